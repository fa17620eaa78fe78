"""Where the scoring pipeline's time goes, by stage, without a profiler's distortion: the
pipeline bench with its consumer's stages, SQLAlchemy's statements and the outbox's times
read off as it runs. Not a benchmark (no goal, no results): the evidence behind
docs/performance.md's reading of scoring/null and of the signal -> MQL latency.

    uv run --locked python -m bench.stages --events 50000 --leads 10000 --latency-seconds 15

- stages: wall time of the consumer's `apply` (parse, the transaction, its commit), of the
  PostgreSQL commit alone, of the broker offset commit, and of `getmany` (both pipelines);
- statements: each SQL statement's time (cursor events: the round trip included) and rows;
- latency split (when --latency-seconds > 0): for each MQL of the latency run, from the
  signal's creation to its batch's transaction start (outbox.created_at is the transaction's
  now()), and from there to the relay's publication (outbox.published_at).
"""

from __future__ import annotations

import collections
import json
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from aiokafka import AIOKafkaConsumer
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine

from bench import pipeline
from handoff import db
from handoff.messaging import consumer

STAGES: dict[str, list[float]] = collections.defaultdict(lambda: [0, 0.0])
STATEMENTS: dict[str, list[float]] = collections.defaultdict(lambda: [0, 0.0, 0])
SPLIT: dict[str, list[float]] = {}


def timed(owner: Any, name: str, label: str) -> None:
    """Wrap the coroutine method `owner.name` to add its wall time to STAGES[label]."""
    original: Callable[..., Awaitable[Any]] = getattr(owner, name)

    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return await original(*args, **kwargs)
        finally:
            STAGES[label][0] += 1
            STAGES[label][1] += time.perf_counter() - started

    setattr(owner, name, wrapper)


def watch_statements(engine: AsyncEngine) -> None:
    sync = engine.sync_engine

    @event.listens_for(sync, "before_cursor_execute")
    def before(conn: Any, *_: Any) -> None:
        conn.info.setdefault("started", []).append(time.perf_counter())

    @event.listens_for(sync, "after_cursor_execute")
    def after(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        seconds = time.perf_counter() - conn.info["started"].pop()
        key = " ".join(statement.split())[:72]
        STATEMENTS[key][0] += 1
        STATEMENTS[key][1] += seconds
        STATEMENTS[key][2] += max(cursor.rowcount or 0, 0)


def instrument() -> None:
    timed(consumer.BatchConsumer, "apply", "consumer apply (parse, transaction, commit)")
    timed(consumer.BatchConsumer, "_commit_offsets", "broker offset commit")
    timed(db.UnitOfWork, "commit", "PostgreSQL commit")
    timed(AIOKafkaConsumer, "getmany", "getmany, both pipelines (fetch waits)")
    make_engine: Callable[..., AsyncEngine] = pipeline.create_engine  # type: ignore[attr-defined]

    def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
        engine = make_engine(url, **kwargs)
        watch_statements(engine)
        return engine

    pipeline.create_engine = create_engine  # type: ignore[attr-defined,assignment]
    latency = pipeline.latency

    async def latency_split(*args: Any) -> dict[str, Any]:
        result = await latency(*args)
        engine = make_engine(args[0].database_url)
        try:
            async with engine.connect() as conn:
                rows = (
                    await conn.execute(
                        text(
                            "SELECT created_at, published_at, convert_from(value, 'UTF8') "
                            "FROM scoring.outbox WHERE convert_from(key, 'UTF8') LIKE 'LAT-%'"
                        )
                    )
                ).all()
        finally:
            await engine.dispose()
        queued, published = [], []
        for created, sent, value in rows:
            body = json.loads(value)
            if body.get("type") != "handoff.lead.mql":
                continue
            at = datetime.fromisoformat(body["data"]["qualified_at"].replace("Z", "+00:00"))
            queued.append((created - at).total_seconds() * 1000)
            if sent is not None:
                published.append((sent - created).total_seconds() * 1000)
        SPLIT["signal created -> its batch's transaction starts"] = sorted(queued)
        SPLIT["transaction start -> relay published the MQL"] = sorted(published)
        return result

    pipeline.latency = latency_split  # type: ignore[assignment]


def report() -> None:
    print("stages (wall time):")
    for label, (calls, seconds) in sorted(STAGES.items(), key=lambda kv: -kv[1][1]):
        print(f"  {seconds:7.2f} s  {int(calls):6d} calls  {label}")
    print("statements (round trip included):")
    for key, (calls, seconds, rows) in sorted(STATEMENTS.items(), key=lambda kv: -kv[1][1])[:10]:
        print(f"  {seconds:7.2f} s  {int(calls):6d} calls  {int(rows):8d} rows  {key}")
    for label, values in SPLIT.items():
        if values:
            p = [values[min(len(values) - 1, int(len(values) * q))] for q in (0.5, 0.9, 0.99)]
            print(
                f"{label}: p50 {p[0]:.1f} ms, p90 {p[1]:.1f} ms, p99 {p[2]:.1f} ms, "
                f"max {values[-1]:.1f} ms ({len(values)} MQLs)"
            )


def main(argv: list[str] | None = None) -> None:
    instrument()
    try:
        pipeline.main(argv if argv is not None else sys.argv[1:])
    finally:
        report()


if __name__ == "__main__":
    main()
