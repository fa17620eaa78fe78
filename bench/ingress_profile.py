"""Where a webhook's CPU goes: one ingress worker under the webhook bench's load, CPU time per
request of ingress, PostgreSQL and the broker (and of the bare ASGI app, for scale), and with
`--py-spy` the worker's samples sorted by cost. A profile, not a figure: not part of `make bench`.

    uv run --locked python -m bench.ingress_profile --seconds 8
    uv run --locked --with py-spy python -m bench.ingress_profile --py-spy /tmp/webhook.txt

The py-spy part samples only the thread holding the GIL (`--gil`), so the shares are of the
worker's Python time; the CPU figures come from /proc and include everything (C, the kernel).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import subprocess
from pathlib import Path

from bench.ingress import REPO, SECRET, load, start_bare, unlimited_config
from bench.routing import cpu_seconds
from bench.scaleout import process_tree
from bench.stack import embedded_stack
from handoff.logs import configure_logging
from handoff_dev.ports import free_port

PATH = "/v1/webhooks/standard"
# Each sample counts for the innermost frame that names one of these (checked in this order).
COSTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("broker send (aiokafka)", ("aiokafka/", "messaging/producer.py", "publisher.py")),
    ("delivery claim, PostgreSQL client", ("sqlalchemy/", "asyncpg/", "deliveries.py")),
    ("metrics (prometheus_client)", ("prometheus_client/",)),
    ("logging (structlog)", ("structlog/",)),
    ("signature and rate limit", ("hmac.py", "providers/", "verification.py", "ratelimit.py")),
    ("JSON parse and validation", ("pydantic", "http/body.py", "http/values.py", "signals.py")),
    ("the signal's CloudEvent record", ("events/encode.py", "events_out.py")),
    ("webhook service layer and routes", ("webhooks.py", "entrypoints/", "app.py")),
    ("thread-pool hops", ("anyio/", "threading.py", "queue.py", "concurrency.py")),
    ("FastAPI/Starlette", ("fastapi/", "starlette/", "http/limits.py", "http/params.py")),
    ("uvicorn and httptools", ("uvicorn/",)),
)


def cpu(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        with contextlib.suppress(OSError):  # a PostgreSQL backend that ended meanwhile
            total += cpu_seconds(pid)
    return total


def shares(raw: Path) -> list[tuple[str, float]]:
    """py-spy's raw (collapsed) stacks, each sample counted once for its innermost cost."""
    counts: collections.Counter[str] = collections.Counter()
    for line in raw.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        for frame in reversed(stack.split(";")):
            cost = next((name for name, keys in COSTS if any(k in frame for k in keys)), None)
            if cost is not None:
                counts[cost] += int(n)
                break
        else:
            counts["event loop and the rest"] += int(n)
    total = sum(counts.values()) or 1
    return [(name, n / total) for name, n in counts.most_common()]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--py-spy", type=Path, help="also record the worker into this raw file")
    args = parser.parse_args(argv)
    configure_logging("console", "warning")
    with embedded_stack(topics=True) as stack:
        config = unlimited_config(stack.data_dir / "ingress.yaml")
        stack.extra_env.update(
            {
                "HANDOFF_CONFIG_DIR": str(REPO / "config"),
                "HANDOFF_INGRESS_CONFIG_FILE": str(config),
                "HANDOFF_WEBHOOK_STANDARD_SECRET": SECRET,
                "HANDOFF_LOG_LEVEL": "warning",
                "HANDOFF_INGRESS_WORKERS": "1",
            }
        )
        stack.ensure_api_key()
        port = free_port()
        stack.start_services(ports={"ingress": port}, only=["ingress"])
        assert stack.postgres is not None and stack.postgres.process is not None
        assert stack.broker is not None and stack.broker.process is not None
        worker = stack.services["ingress"].process
        assert worker is not None
        trees = {
            "ingress": worker.pid,
            "PostgreSQL": stack.postgres.process.pid,
            "broker": stack.broker.process.pid,
        }
        load(port, PATH, args.connections, 2)  # warm up: connections, prepared statements
        spy = None
        if args.py_spy is not None:
            spy = subprocess.Popen(
                ["py-spy", "record", "--pid", str(trees["ingress"]), "--duration",
                 str(int(args.seconds)), "--rate", "200", "--format", "raw", "--gil",
                 "--nonblocking", "--output", str(args.py_spy)]
            )  # fmt: skip
        pids = {name: process_tree(pid) for name, pid in trees.items()}
        before = {name: cpu(p) for name, p in pids.items()}
        rate, codes = load(port, PATH, args.connections, args.seconds)
        after = {name: cpu(p) for name, p in pids.items()}
        answered = sum(codes.values())
        print(f"webhook: {rate:,.0f} requests/s, answers {codes}")
        for name in pids:
            print(
                f"  {name}: {1e6 * (after[name] - before[name]) / answered:,.0f} us CPU a request"
            )
        if spy is not None and args.py_spy is not None:
            spy.wait()
            print("the worker's Python time (py-spy, samples holding the GIL):")
            for name, share in shares(args.py_spy):
                print(f"  {100 * share:5.1f}%  {name}")
    bare_port = free_port()
    bare = start_bare(bare_port, 1)
    try:
        load(bare_port, PATH, args.connections, 2)
        start = cpu([bare.pid])
        rate, codes = load(bare_port, PATH, args.connections, args.seconds)
        per = 1e6 * (cpu([bare.pid]) - start) / sum(codes.values())
        print(f"bare ASGI 202: {rate:,.0f} requests/s, {per:,.0f} us CPU a request")
    finally:
        bare.terminate()
        bare.wait(10)


if __name__ == "__main__":
    main()
