"""Scoring pipeline throughput beside the null pipeline, on the same broker and database, same run.

The null pipeline is DESIGN.md's baseline: consume, parse, one upsert per batch, commit.
The scoring pipeline is the real BatchConsumer with the real SignalHandler (inbox, lead
state, MQLs to the outbox). Both read the same freshly produced signals; rounds alternate
so machine noise hits both. The last line is the ratio (project goal: at least 0.5).

    make bench            # or: uv run python -m bench.pipeline --events 100000 --rounds 2
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from sqlalchemy import text

from handoff.db import UnitOfWork, UnitOfWorkFactory, create_engine
from handoff.devstack.ports import free_port
from handoff.devstack.stack import DevStack
from handoff.events import dlq_topic, signals
from handoff.logs import configure_logging
from handoff.messaging.consumer import BatchConsumer, Inbound
from handoff.messaging.producer import Message, Producer, make_producer
from handoff.settings import HandoffSettings
from handoff_scoring.config import load_model
from handoff_scoring.handlers import SignalHandler

REPO = Path(__file__).resolve().parent.parent
KINDS = (
    ["page_view"] * 6
    + ["email_open"] * 3
    + ["email_click", "content_download", "pricing_page_view"]
)


async def produce(settings: HandoffSettings, topic: str, events: int, leads: int) -> None:
    kafka = make_producer(settings, "bench-producer")
    await kafka.start()
    producer = Producer(kafka)
    rng = random.Random(7)
    start = datetime(2026, 11, 1, tzinfo=UTC)
    prefix = os.urandom(4).hex()
    try:
        batch: list[Message] = []
        for n in range(events):
            lead = f"B-{prefix}-{rng.randrange(leads)}"
            event = signals.ActivitySignal(
                id=f"bench-{prefix}-{n}",
                source="/bench",
                subject=lead,
                data=signals.ActivityData(
                    lead_id=lead,
                    activity_type=rng.choice(KINDS),
                    occurred_at=start + timedelta(seconds=n),
                    properties={"url": "/pricing"} if n % 10 == 0 else {},
                ),
            )
            batch.append(Message.of(topic, event))
            if len(batch) == 5000:
                await producer.send_all(batch)
                batch = []
        await producer.send_all(batch)
    finally:
        await kafka.stop()


async def create_topic(bootstrap: str, topic: str, partitions: int) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics(
            [NewTopic(topic, partitions, 1), NewTopic(dlq_topic(topic), partitions, 1)]
        )
    finally:
        await admin.close()


async def timed_until(total: int, counter: Callable[[], int], work: Awaitable[Any]) -> float:
    """Seconds from the first applied event to the last; the task is cancelled after."""
    task = asyncio.ensure_future(work)
    try:
        while counter() == 0:
            if task.done():
                task.result()
            await asyncio.sleep(0.001)
        started = time.perf_counter()
        while counter() < total:
            if task.done():
                task.result()
            await asyncio.sleep(0.002)
        return time.perf_counter() - started
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def null_pipeline(settings: HandoffSettings, topic: str, total: int, group: str) -> float:
    engine = create_engine(settings.database_url)
    done = 0

    async def run() -> None:
        nonlocal done
        consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=settings.kafka_bootstrap_servers,
            group_id=group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=settings.consumer_batch_max,
        )
        await consumer.start()
        try:
            while True:
                batches = await consumer.getmany(
                    timeout_ms=200, max_records=settings.consumer_batch_max
                )
                if not batches:
                    continue
                records = [r for rs in batches.values() for r in rs]
                parsed = [signals.signal_adapter.validate_json(r.value or b"") for r in records]
                ids = [e.data.lead_id for e in parsed]
                async with engine.begin() as conn:
                    await conn.execute(
                        text(
                            "INSERT INTO bench_null.sink (lead_id, n) "
                            "SELECT id, count(*) FROM unnest(CAST(:ids AS text[])) AS id GROUP BY id "
                            "ON CONFLICT (lead_id) DO UPDATE SET n = bench_null.sink.n + excluded.n"
                        ),
                        {"ids": ids},
                    )
                await consumer.commit({tp: rs[-1].offset + 1 for tp, rs in batches.items()})
                done += len(records)
        finally:
            await consumer.stop()

    try:
        return await timed_until(total, lambda: done, run())
    finally:
        await engine.dispose()


async def scoring_pipeline(settings: HandoffSettings, topic: str, total: int, group: str) -> float:
    engine = create_engine(settings.database_url)
    kafka = make_producer(settings, "bench-dlq")
    await kafka.start()
    inner = SignalHandler(load_model(REPO / "config" / "scoring.yaml"))
    done = 0

    async def counting(uow: UnitOfWork, items: list[Inbound[Any]]) -> None:
        nonlocal done
        await inner(uow, items)
        done += len(items)  # counted before commit; the commit of the last batch is awaited below

    consumer = BatchConsumer(
        name=group,
        schema="scoring",
        adapters={topic: signals.signal_adapter},
        handler=counting,
        uow_factory=UnitOfWorkFactory(engine),
        producer=Producer(kafka),
        settings=settings,
    )
    try:
        return await timed_until(total, lambda: done, consumer.run())
    finally:
        await kafka.stop()
        await engine.dispose()


async def bench(stack: DevStack, events: int, leads: int, rounds: int, partitions: int) -> None:
    assert stack.database_url and stack.bootstrap
    settings = HandoffSettings(
        database_url=stack.database_url, kafka_bootstrap_servers=stack.bootstrap
    )
    engine = create_engine(stack.database_url)
    async with engine.begin() as conn:
        await conn.execute(text("CREATE SCHEMA IF NOT EXISTS bench_null"))
        await conn.execute(
            text("CREATE TABLE IF NOT EXISTS bench_null.sink (lead_id text PRIMARY KEY, n int)")
        )
    await engine.dispose()
    best_null = best_scoring = float("inf")
    for r in range(1, rounds + 1):
        topic = f"bench.signals.{os.urandom(3).hex()}"
        await create_topic(stack.bootstrap, topic, partitions)
        await produce(settings, topic, events, leads)
        t_null = await null_pipeline(settings, topic, events, f"bench-null-{topic}")
        t_scoring = await scoring_pipeline(settings, topic, events, f"bench-scoring-{topic}")
        best_null, best_scoring = min(best_null, t_null), min(best_scoring, t_scoring)
        print(
            f"round {r}: null {events / t_null:,.0f} events/s, scoring {events / t_scoring:,.0f} events/s",
            flush=True,
        )
    null_rate, scoring_rate = events / best_null, events / best_scoring
    print(f"null pipeline (best of {rounds}): {null_rate:,.0f} events/s")
    print(f"scoring pipeline (best of {rounds}): {scoring_rate:,.0f} events/s")
    print(
        f"scoring/null = {scoring_rate / null_rate:.2f}  "
        f"(scoring {scoring_rate:,.0f} events/s, null {null_rate:,.0f} events/s; goal >= 0.50)"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--leads", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--partitions", type=int, default=12)
    args = parser.parse_args(argv)
    configure_logging("console", "warning")
    data_dir = Path(tempfile.mkdtemp(prefix="handoff-bench-"))
    stack = DevStack.from_env(data_dir, pg_port=free_port(), broker_port=free_port())
    try:
        stack.start_infrastructure()
        stack.migrate()
        asyncio.run(bench(stack, args.events, args.leads, args.rounds, args.partitions))
    finally:
        stack.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
