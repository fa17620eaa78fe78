"""Every figure a benchmark run measures, beside its goal: `bench/results.json` and one table.

A benchmark calls `record(...)` where it prints a figure; when the run ends (one benchmark or
`make bench`), the figures are written to bench/results.json (a JSON list of objects with
name, value, unit, goal, met, command and date) and printed as one table, each beside its goal.
"""

from __future__ import annotations

import atexit
import json
import operator
import re
import shlex
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).with_name("results.json")

_OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
}
_GOAL = re.compile(r"^\s*(>=|<=|>|<)\s*([0-9.]+)\s*$")

_figures: list[dict[str, Any]] = []


def meets(value: float, goal: str) -> bool:
    """Whether `value` meets a goal written as text: ">= 0.5", "< 50"."""
    found = _GOAL.match(goal)
    if found is None:
        raise ValueError(f"a goal such as '>= 0.5' or '< 50', not {goal!r}")
    return _OPS[found.group(1)](value, float(found.group(2)))


def command() -> str:
    """The command line that ran this benchmark, as a reader would type it again."""
    args = " ".join(shlex.quote(a) for a in sys.argv[1:])
    script = Path(sys.argv[0])
    module = "bench" if script.stem == "__main__" else f"bench.{script.stem}"
    return f"uv run --locked python -m {module} {args}".strip()


def record(name: str, value: float, unit: str, goal: str) -> None:
    """One measured figure; `goal` is text such as ">= 0.5" (met is decided here)."""
    if not _figures:
        atexit.register(publish)
    _figures.append(
        {
            "name": name,
            "value": round(value, 4),
            "unit": unit,
            "goal": goal,
            "met": meets(value, goal),
            "command": command(),
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
        }
    )


def table(figures: list[dict[str, Any]]) -> str:
    rows = [("figure", "value", "goal", "")] + [
        (
            f["name"],
            f"{f['value']:,.2f} {f['unit']}".strip(),
            f["goal"],
            "met" if f["met"] else "not met",
        )
        for f in figures
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows)


def publish() -> None:
    """Write this run's figures to bench/results.json and print them beside their goals."""
    if not _figures:
        return
    RESULTS.write_text(json.dumps(_figures, indent=2) + "\n")
    print(f"\n{table(_figures)}\n(written to {RESULTS})", flush=True)
