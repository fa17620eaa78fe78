"""Run every benchmark in turn (`make bench`), or the ones named: `python -m bench sla routing`.

Each benchmark is a module of this package with a `main(argv)` that starts its own embedded
stack (or uses the HANDOFF_ URLs), measures a same-run baseline beside the real thing, and
prints its ratio. They run one after another so they never compete for the two cores.
"""

from __future__ import annotations

import importlib
import sys

BENCHMARKS = ("pipeline", "ingress", "routing", "sla", "insight", "notify", "growth", "scaleout")


def main() -> None:
    names = sys.argv[1:] or list(BENCHMARKS)
    for name in names:
        if name not in BENCHMARKS:
            sys.exit(f"unknown benchmark {name!r}; choose from {', '.join(BENCHMARKS)}")
    for name in names:
        try:
            module = importlib.import_module(f"bench.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"bench.{name}":
                raise
            print(f"== {name}: not written yet")
            continue
        print(f"== {name}", flush=True)
        module.main([])


if __name__ == "__main__":
    main()
