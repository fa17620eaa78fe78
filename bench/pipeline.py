"""Scoring pipeline throughput beside the null pipeline, on the same broker and database, same run,
then the latency from a signal's publication to its MQL event at half the measured rate.

The null pipeline is DESIGN.md's baseline: consume, parse, one upsert per batch, commit.
The scoring pipeline is the real BatchConsumer with the real SignalHandler and the shipped
model (config/scoring.yaml: 18 behaviour rules, 9 fit rules, decay, a CEL criterion, a
sequence trigger, disqualifiers, score_changed): inbox, lead history, MQLs to the outbox.
Both read the same freshly produced signals (activities with properties, and an identify per
lead); rounds alternate so machine noise hits both. Goals: ratio >= 0.5, p99 < 50 ms.

    make bench            # or: uv run python -m bench pipeline
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import random
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from pydantic import TypeAdapter
from sqlalchemy import text

from bench import results, topics
from bench.profiling import profiled
from handoff.db import UnitOfWork, UnitOfWorkFactory, asyncpg_dsn, create_engine
from handoff.events import dlq_topic, scoring, signals
from handoff.logs import configure_logging
from handoff.messaging.consumer import BatchConsumer, Handler, Inbound
from handoff.messaging.outbox import OutboxRelay
from handoff.messaging.producer import Message, Producer, make_producer
from handoff.runtime import tune_gc
from handoff.settings import HandoffSettings
from handoff_dev.ports import free_port
from handoff_dev.stack import DevStack
from handoff_scoring.config import load_model
from handoff_scoring.service_layer.handlers import SignalHandler

REPO = Path(__file__).resolve().parent.parent
# (activity type, properties): a plausible mix for a B2B site and its emails.
KINDS: list[tuple[str, dict[str, str]]] = [
    ("page_view", {"url": "/"}),
    ("page_view", {"url": "/product/scoring"}),
    ("page_view", {"url": "/blog/lead-scoring-101"}),
    ("page_view", {"url": "/ja/pricing"}),
    ("page_view", {"url": "/features"}),
    ("page_view", {"url": "/about"}),
    ("email_open", {"campaign": "newsletter-11"}),
    ("email_open", {"campaign": "nurture-2"}),
    ("email_open", {"campaign": "newsletter-11"}),
    ("email_click", {"campaign": "nurture-2"}),
    ("content_download", {"asset": "roi-guide"}),
    ("content_download", {"asset": "case-study-sakura"}),
    ("pricing_page_view", {"url": "/pricing"}),
    ("webinar_attended", {"campaign": "q4-webinar"}),
    ("video_watched", {"asset": "demo-tour"}),
]
FETCH_WAIT_MS = 5  # HANDOFF_KAFKA_FETCH_MAX_WAIT_MS for the latency run
TITLES = ["部長", "本部長", "課長", "CTO", "VP Sales", "Marketing Manager", "Engineer"]
SIZES = [12, 45, 120, 300, 800, 2500]


def identify_event(lead: str, n: int, at: datetime, prefix: str) -> signals.IdentifySignal:
    rng = random.Random(n)
    return signals.IdentifySignal(
        id=f"bench-{prefix}-id-{n}",
        source="/bench",
        subject=lead,
        data=signals.IdentifyData(
            lead_id=lead,
            occurred_at=at,
            traits=signals.Traits.model_validate(
                {
                    "email": f"p{n}@example-{n % 50}.co.jp",
                    "title": rng.choice(TITLES),
                    "company": {
                        "size": rng.choice(SIZES),
                        "industry": rng.choice(["Software", "Retail", "Manufacturing"]),
                        "country": rng.choice(["JP", "US"]),
                        "region": rng.choice(["Tokyo", "Osaka", "California"]),
                    },
                }
            ),
        ),
    )


async def produce(settings: HandoffSettings, topic: str, events: int, leads: int) -> None:
    kafka = make_producer(settings, "bench-producer")
    await kafka.start()
    producer = Producer(kafka)
    rng = random.Random(7)
    start = datetime(2026, 11, 1, tzinfo=UTC)
    prefix = os.urandom(4).hex()
    known: set[int] = set()
    try:
        batch: list[Message] = []
        for n in range(events):
            k = rng.randrange(leads)
            lead = f"B-{prefix}-{k}"
            at = start + timedelta(seconds=n)
            event: signals.ActivitySignal | signals.IdentifySignal
            if k not in known and rng.random() < 0.5:
                known.add(k)
                event = identify_event(lead, k, at, prefix)
            else:
                kind, props = rng.choice(KINDS)
                event = signals.ActivitySignal(
                    id=f"bench-{prefix}-{n}",
                    source="/bench",
                    subject=lead,
                    data=signals.ActivityData(
                        lead_id=lead, activity_type=kind, occurred_at=at, properties=props
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
    """Seconds for `total` events at the rate seen from the first applied batch to the last.

    The clock starts once the first batch is applied (group join and the first fetch are not
    the pipeline's cost), so that batch's events are outside the timed span: the span covers
    `total - first` events and is scaled to `total`. A run whose events all land in the first
    batch has no span at all and cannot give a rate.
    """
    task = asyncio.ensure_future(work)
    try:
        while counter() == 0:
            if task.done():
                task.result()
            await asyncio.sleep(0.001)
        started, first = time.perf_counter(), counter()
        if first >= total:
            raise RuntimeError(
                f"all {total} events were applied in one batch: too few to measure a rate; "
                "use more events"
            )
        while counter() < total:
            if task.done():
                task.result()
            await asyncio.sleep(0.002)
        return (time.perf_counter() - started) * total / (total - first)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def _signal_lead_id(value: bytes) -> str:
    return signals.signal_adapter.validate_json(value).data.lead_id


async def null_pipeline(
    settings: HandoffSettings,
    topic: str,
    total: int,
    group: str,
    lead_id_of: Callable[[bytes], str] = _signal_lead_id,
) -> float:
    """DESIGN.md's baseline: consume, parse each value, one upsert per batch, commit; seconds."""
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
                ids = [lead_id_of(r.value or b"") for r in records]
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


async def service_pipeline(
    settings: HandoffSettings,
    *,
    schema: str,
    adapters: Mapping[str, TypeAdapter[Any]],
    handler: Handler[Any],
    total: int,
    group: str,
) -> float:
    """A service's real batch handler under the shared consumer loop, timed to `total` events."""
    engine = create_engine(settings.database_url)
    kafka = make_producer(settings, f"{group}-dlq")
    await kafka.start()
    done = 0

    async def counting(uow: UnitOfWork, items: list[Inbound[Any]]) -> None:
        nonlocal done
        await handler(uow, items)
        done += len(items)  # counted before commit; the commit of the last batch is awaited below

    consumer = BatchConsumer(
        name=group,
        schema=schema,
        adapters=adapters,
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


async def scoring_pipeline(settings: HandoffSettings, topic: str, total: int, group: str) -> float:
    handler = SignalHandler(load_model(REPO / "config" / "scoring.yaml"))
    adapters = {topic: signals.signal_adapter}
    return await service_pipeline(
        settings, schema="scoring", adapters=adapters, handler=handler, total=total, group=group
    )


def load_generator(bootstrap: str, topic: str, rate: float, seconds: float, out: Any) -> None:
    """In its own process (an MA tool and a downstream reader): publish at `rate` for `seconds`,
    every 20th signal a demo request from a new lead, and time each until its MQL arrives."""
    out.put(asyncio.run(_generate(bootstrap, topic, rate, seconds)))


async def _generate(bootstrap: str, topic: str, rate: float, seconds: float) -> dict[str, Any]:
    settings = HandoffSettings(kafka_bootstrap_servers=bootstrap)
    kafka = make_producer(settings, "bench-latency")
    await kafka.start()
    watcher = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, fetch_max_wait_ms=5)
    await watcher.start()
    # Past what is already there, found from fetched high watermarks: the embedded broker's
    # ListOffsets end (seek_to_end) lies before the true end (bench/topics.py).
    await topics.skip_to_end(watcher, await topics.assign_from_start(watcher, scoring.TOPIC))
    sent: dict[bytes, float] = {}
    got: dict[bytes, float] = {}
    prefix = os.urandom(3).hex()
    rng = random.Random(11)
    done = False

    async def watch() -> None:
        while not done or len(got) < len(sent):
            batches = await watcher.getmany(timeout_ms=50)
            now = time.perf_counter()
            for records in batches.values():
                for r in records:
                    if (
                        r.key in sent
                        and r.key not in got
                        and b'"handoff.lead.mql"' in (r.value or b"")
                    ):
                        got[r.key] = now

    watching = asyncio.create_task(watch())
    start = time.perf_counter()
    n = 0
    tick = 0.01
    try:
        while time.perf_counter() - start < seconds:
            due = int((time.perf_counter() - start) * rate) - n
            batch = []
            for _ in range(max(due, 0)):
                n += 1
                at = datetime.now(UTC)
                if n % 20 == 0:
                    lead, kind, props = f"LAT-{prefix}-{n}", "demo_request", {"url": "/demo"}
                else:
                    kind, props = rng.choice(KINDS)
                    lead = f"LB-{prefix}-{rng.randrange(20_000)}"
                event = signals.ActivitySignal(
                    id=f"lat-{prefix}-{n}",
                    source="/bench",
                    subject=lead,
                    data=signals.ActivityData(
                        lead_id=lead, activity_type=kind, occurred_at=at, properties=props
                    ),
                )
                batch.append(Message.of(topic, event))
            stamp = time.perf_counter()
            futures = [await kafka.send(m.topic, m.value, key=m.key) for m in batch]
            for m in batch:
                if m.key.startswith(b"LAT-"):
                    sent[m.key] = stamp
            await asyncio.gather(*futures)
            await asyncio.sleep(max(0.0, tick - (time.perf_counter() - stamp)))
        done = True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(watching, 10)
    finally:
        watching.cancel()
        await watcher.stop()
        await kafka.stop()
    elapsed = time.perf_counter() - start
    return {
        "latencies": sorted(got[k] - sent[k] for k in got),
        "mqls_expected": len(sent),
        "sent": n,
        "rate": n / elapsed,
    }


async def latency(
    settings: HandoffSettings, rate: float, seconds: float, partitions: int
) -> dict[str, Any]:
    """The scoring service's consumer and outbox relay in this process; load in another."""
    assert settings.kafka_bootstrap_servers
    topic = f"bench.latency.{os.urandom(3).hex()}"
    await create_topic(settings.kafka_bootstrap_servers, topic, partitions)
    engine = create_engine(settings.database_url)
    kafka = make_producer(settings, "bench-scoring")
    await kafka.start()
    producer = Producer(kafka)
    consumer = BatchConsumer(
        name=f"bench-latency-{topic}",
        schema="scoring",
        adapters={topic: signals.signal_adapter},
        handler=SignalHandler(load_model(REPO / "config" / "scoring.yaml")),
        uow_factory=UnitOfWorkFactory(engine),
        producer=producer,
        settings=settings,
    )
    relay = OutboxRelay(asyncpg_dsn(settings.database_url), "scoring", producer, poll_seconds=1.0)
    tasks = [asyncio.create_task(consumer.run()), asyncio.create_task(relay.run())]
    try:
        while not (consumer.holds_assignment() and relay.active):  # noqa: ASYNC110
            await asyncio.sleep(0.1)
        while True:  # let the relay publish what the throughput rounds left behind
            async with engine.connect() as conn:
                left = await conn.scalar(
                    text("SELECT count(*) FROM scoring.outbox WHERE published_at IS NULL")
                )
            if not left:
                break
            await asyncio.sleep(0.2)
        ctx = multiprocessing.get_context("spawn")
        out = ctx.Queue()
        child = ctx.Process(
            target=load_generator,
            args=(settings.kafka_bootstrap_servers, topic, rate, seconds, out),
        )
        child.start()
        while child.is_alive() and out.empty():  # noqa: ASYNC110
            await asyncio.sleep(0.1)
        result: dict[str, Any] = out.get(timeout=30)
        child.join(5)
        return result
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await kafka.stop()
        await engine.dispose()


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    return values[min(len(values) - 1, round(p / 100 * (len(values) - 1)))]


async def bench(
    stack: DevStack,
    events: int,
    leads: int,
    rounds: int,
    partitions: int,
    seconds: float,
    latency_rate: float = 0,
    profile: Path | None = None,
) -> None:
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
        with profiled(profile if r == rounds else None):  # the last round, if asked
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
        f"(scoring {scoring_rate:,.0f} events/s, null {null_rate:,.0f} events/s; goal >= 0.50)",
        flush=True,
    )
    results.record("scoring throughput / null pipeline", scoring_rate / null_rate, "", ">= 0.5")
    results.record("scoring throughput", scoring_rate, "events/s", "> 0")
    if seconds <= 0:
        return
    rate = latency_rate or scoring_rate / 2
    # The scoring consumer asks the broker not to hold fetches (see kafka_fetch_max_wait_ms).
    fast = settings.model_copy(update={"kafka_fetch_max_wait_ms": FETCH_WAIT_MS})
    result = await latency(fast, rate, seconds, partitions)
    lat = result["latencies"]
    which = f"half of {scoring_rate:,.0f}" if not latency_rate else "as asked"
    which += f", fetch wait {FETCH_WAIT_MS} ms"
    print(
        f"latency at {result['rate']:,.0f} signals/s ({which}) for {seconds:.0f} s: "
        f"{len(lat)} of {result['mqls_expected']} MQLs seen; publication -> MQL event "
        f"p50 {percentile(lat, 50) * 1000:.1f} ms, p99 {percentile(lat, 99) * 1000:.1f} ms, "
        f"max {max(lat, default=float('nan')) * 1000:.1f} ms (goal p99 < 50 ms)"
    )
    if lat:
        results.record(
            "signal published -> MQL event, p99 at half the max rate",
            percentile(lat, 99) * 1000,
            "ms",
            "<= 50",
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--leads", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--partitions", type=int, default=12)
    parser.add_argument(
        "--latency-seconds", type=float, default=15, help="0 skips the latency measurement"
    )
    parser.add_argument(
        "--latency-rate", type=float, default=0, help="signals/s (default: half the measured rate)"
    )
    parser.add_argument(
        "--profile",
        type=Path,
        default=None,
        help="cProfile the last scoring round into this file and print where its time went "
        "(profiling slows it: its figures do not count)",
    )
    args = parser.parse_args(argv)
    configure_logging("console", "warning")
    data_dir = Path(tempfile.mkdtemp(prefix="handoff-bench-"))
    stack = DevStack.from_env(data_dir, pg_port=free_port(), broker_port=free_port())
    try:
        stack.start_infrastructure()
        stack.migrate()
        stack.create_topics()
        tune_gc()  # as every service process runs (handoff.runtime.run_service)
        asyncio.run(
            bench(
                stack,
                args.events,
                args.leads,
                args.rounds,
                args.partitions,
                args.latency_seconds,
                args.latency_rate,
                args.profile,
            )
        )
    finally:
        stack.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
