"""The batch consumer loop on the real broker and database: DLQ, inbox dedupe, halting."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from prometheus_client import REGISTRY
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine
from structlog.testing import capture_logs

from handoff.db import UnitOfWork, UnitOfWorkFactory
from handoff.events import dlq_topic, signals
from handoff.messaging.consumer import BatchConsumer, Inbound
from handoff.messaging.producer import Producer, make_producer
from handoff.settings import HandoffSettings
from tests.factories import activity, new_id
from tests.integration.kafka_helpers import collect, eventually, read_to_end

TOPIC = signals.TOPIC


class Recorder:
    def __init__(self) -> None:
        self.seen: list[str] = []

    async def __call__(self, uow: UnitOfWork, items: list[Inbound[Any]]) -> None:
        self.seen.extend(i.event.id for i in items)


async def run_consumer(
    engine: AsyncEngine,
    bootstrap: str,
    handler: Recorder,
    *,
    max_dead: int = 100,
    poison_attempts: int = 3,
    topic: str = TOPIC,
    batch_budget_ms: int = 100,
) -> tuple[BatchConsumer, asyncio.Task[None], AIOKafkaProducer]:
    settings = HandoffSettings(
        kafka_bootstrap_servers=bootstrap,
        consumer_batch_budget_ms=batch_budget_ms,
        consumer_max_dead_letters_in_row=max_dead,
        consumer_poison_attempts=poison_attempts,
        kafka_session_timeout_ms=6000,
    )
    kafka = make_producer(settings, "test-consumer-dlq")
    await kafka.start()
    consumer = BatchConsumer(
        name=f"test-{new_id('group')}",
        schema="scoring",
        adapters={topic: signals.signal_adapter},
        handler=handler,
        uow_factory=UnitOfWorkFactory(engine),
        producer=Producer(kafka),
        settings=settings,
    )
    return consumer, asyncio.create_task(consumer.run()), kafka


async def stop(task: asyncio.Task[None], kafka: AIOKafkaProducer) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await kafka.stop()


async def send(bootstrap: str, values: list[tuple[bytes, bytes]], topic: str = TOPIC) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for key, value in values:
            await producer.send_and_wait(topic, value, key=key)
    finally:
        await producer.stop()


async def test_an_unparseable_value_goes_to_the_dlq_and_the_next_event_is_processed(
    engine: AsyncEngine, bootstrap: str
) -> None:
    topic = await _own_topic(bootstrap)  # so the bad value's offset is known: the first, 0
    lead = new_id()
    good = activity(lead)
    await send(bootstrap, [(lead.encode(), b"{not json"), (lead.encode(), good.to_json())], topic)
    handler = Recorder()
    _, task, kafka = await run_consumer(engine, bootstrap, handler, topic=topic)
    try:
        assert await eventually(lambda: _async(good.id in handler.seen))
        dead = await collect(bootstrap, dlq_topic(topic), lambda r: len(r) >= 1)
    finally:
        await stop(task, kafka)
    assert [r.value for r in dead] == [b"{not json"]
    headers = dict(dead[0].headers)
    assert headers["handoff-dlq-topic"] == topic.encode()
    assert b"json" in headers["handoff-dlq-error"].lower()
    assert headers["handoff-dlq-partition"] == b"0" and headers["handoff-dlq-offset"] == b"0"
    assert handler.seen == [good.id]


async def test_the_same_event_id_is_applied_once(engine: AsyncEngine, bootstrap: str) -> None:
    topic = await _own_topic(bootstrap)
    lead = new_id()
    event, marker = activity(lead), activity(lead)
    copies = [(lead.encode(), event.to_json())] * 3
    await send(bootstrap, [*copies, (lead.encode(), marker.to_json())], topic)
    handler = Recorder()
    _, task, kafka = await run_consumer(engine, bootstrap, handler, topic=topic)
    try:
        # One partition, read in order: once the marker sent after the copies has reached the
        # handler, every copy has been through the loop; no waiting for what does not come.
        assert await eventually(lambda: _async(marker.id in handler.seen))
    finally:
        await stop(task, kafka)
    assert handler.seen == [event.id, marker.id]


async def test_too_many_dead_letters_in_a_row_halt_the_consumer(
    engine: AsyncEngine, bootstrap: str
) -> None:
    # A topic of its own, so valid events of other tests cannot break the run of dead letters.
    topic = f"test.halt.{new_id()}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    await admin.create_topics([NewTopic(topic, 1, 1), NewTopic(dlq_topic(topic), 1, 1)])
    await admin.close()
    lead = new_id()
    await send(bootstrap, [(lead.encode(), b"garbage")] * 4, topic=topic)
    handler = Recorder()
    consumer, task, kafka = await run_consumer(engine, bootstrap, handler, max_dead=2, topic=topic)
    try:
        await asyncio.wait_for(task, 30)  # the loop ends by itself
    finally:
        await kafka.stop()
    assert consumer.halted
    assert not consumer.holds_assignment()


async def _async(value: bool) -> bool:
    return value


async def _equals(value: Awaitable[object], expected: object) -> bool:
    return await value == expected


class Poisoned:
    """A handler that fails whenever a batch holds one of `poison`; counts what it committed."""

    def __init__(self, poison: set[str]) -> None:
        self.poison = poison
        self.applied: list[str] = []
        self.tries = 0

    async def __call__(self, uow: UnitOfWork, items: list[Inbound[Any]]) -> None:
        self.tries += 1
        ids = [i.event.id for i in items]
        # Write first, as a real handler does, so a failure has something to roll back.
        await uow.conn.execute(text("SELECT count(*) FROM scoring.inbox"))
        if self.poison & set(ids):
            raise ValueError("year 10000 is out of range")
        uow.after_commit(lambda: self.applied.extend(ids))


async def _own_topic(bootstrap: str) -> str:
    topic = f"test.poison.{new_id()}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    await admin.create_topics([NewTopic(topic, 1, 1), NewTopic(dlq_topic(topic), 1, 1)])
    await admin.close()
    return topic


async def test_a_poison_event_is_dead_lettered_and_the_rest_of_its_batch_applied_once(
    engine: AsyncEngine, bootstrap: str
) -> None:
    topic = await _own_topic(bootstrap)
    lead = new_id()
    events = [activity(lead) for _ in range(9)]
    poison = events[4]
    await send(bootstrap, [(lead.encode(), e.to_json()) for e in events], topic=topic)
    with capture_logs() as logs:
        handler = Poisoned({poison.id})
        consumer, task, kafka = await run_consumer(engine, bootstrap, handler, topic=topic)  # type: ignore[arg-type]
        before = REGISTRY.get_sample_value(
            "handoff_consumer_poison_events_total", {"consumer": consumer.name, "topic": topic}
        )
        readiness: list[bool] = []

        async def watch_readiness() -> None:
            while True:
                if consumer.kafka is not None and consumer.kafka.assignment():
                    readiness.append(consumer.holds_assignment())
                await asyncio.sleep(0.02)

        watcher = asyncio.create_task(watch_readiness())
        try:
            dead = await collect(bootstrap, dlq_topic(topic), lambda r: len(r) >= 1)
            await eventually(lambda: _async(len(handler.applied) >= 8))

            async def committed() -> int | None:
                assert consumer.kafka is not None
                offset: int | None = await consumer.kafka.committed(TopicPartition(topic, 0))
                return offset

            assert await eventually(lambda: _equals(committed(), 9)), "offsets moved past it"
        finally:
            watcher.cancel()
            await stop(task, kafka)
    good = [e.id for e in events if e is not poison]
    assert sorted(handler.applied) == sorted(good)  # each once, the poison never
    assert [e for e in handler.applied if handler.applied.count(e) > 1] == []
    assert len(dead) == 1 and dead[0].value == poison.to_json()
    headers = dict(dead[0].headers)
    assert headers["handoff-dlq-stage"] == b"apply"
    assert headers["handoff-dlq-topic"] == topic.encode()
    assert headers["handoff-dlq-partition"] == b"0"
    assert headers["handoff-dlq-offset"] == b"4"
    assert headers["handoff-dlq-consumer"] == consumer.name.encode()
    assert int(headers["handoff-dlq-attempts"]) >= 3
    assert headers["handoff-dlq-error"] == b"ValueError: year 10000 is out of range"
    after = REGISTRY.get_sample_value(
        "handoff_consumer_poison_events_total", {"consumer": consumer.name, "topic": topic}
    )
    assert (after or 0) - (before or 0) == 1
    assert readiness and all(readiness), "ready the whole time the poison was isolated"
    async with engine.connect() as conn:
        claimed = await conn.scalar(
            text("SELECT count(*) FROM scoring.inbox WHERE event_id = ANY(:ids)"),
            {"ids": [e.id for e in events]},
        )
    assert claimed == 8  # the poison's claim was rolled back, so a replay of it can apply
    poisoned = [e for e in logs if e["event"] == "consumer.poison"]
    assert len(poisoned) == 1
    assert poisoned[0]["log_level"] == "error"
    assert {k: poisoned[0][k] for k in ("lead_id", "event_id", "topic", "partition", "offset")} == {
        "lead_id": lead,
        "event_id": poison.id,
        "topic": topic,
        "partition": 0,
        "offset": 4,
    }


async def test_a_transient_database_error_is_retried_not_dead_lettered(
    engine: AsyncEngine, bootstrap: str
) -> None:
    topic = await _own_topic(bootstrap)
    lead = new_id()
    event = activity(lead)
    await send(bootstrap, [(lead.encode(), event.to_json())], topic=topic)

    class Flaky(Poisoned):
        async def __call__(self, uow: UnitOfWork, items: list[Inbound[Any]]) -> None:
            self.tries += 1
            if self.tries <= 3:  # more than the poison attempts: a transient error never counts
                raise OperationalError("SELECT 1", {}, ConnectionResetError("server closed"))
            await super().__call__(uow, items)

    handler = Flaky(set())
    # Two poison attempts, so three failures prove the point with a short backoff (0.2+0.4+0.8 s).
    _, task, kafka = await run_consumer(
        engine,
        bootstrap,
        handler,  # type: ignore[arg-type]
        poison_attempts=2,
        topic=topic,
    )
    try:
        assert await eventually(lambda: _async(event.id in handler.applied))
        # A dead letter is written before the loop moves past an event, so the event applied
        # means the dead-letter topic, read to its end now, holds all it ever will of it.
        dead = await read_to_end(bootstrap, dlq_topic(topic))
    finally:
        await stop(task, kafka)
    assert dead == []
    assert handler.applied == [event.id]


async def test_a_handler_failing_on_everything_halts_instead_of_dead_lettering_the_topic(
    engine: AsyncEngine, bootstrap: str
) -> None:
    topic = await _own_topic(bootstrap)
    lead = new_id()
    events = [activity(lead) for _ in range(6)]
    await send(bootstrap, [(lead.encode(), e.to_json()) for e in events], topic=topic)
    handler = Poisoned({e.id for e in events})
    consumer, task, kafka = await run_consumer(engine, bootstrap, handler, max_dead=2, topic=topic)  # type: ignore[arg-type]
    try:
        await asyncio.wait_for(task, 60)  # the loop ends by itself
        # Halted: it writes nothing more, so the topic read to its end is all it wrote.
        dead = await read_to_end(bootstrap, dlq_topic(topic))
    finally:
        await kafka.stop()
    assert consumer.halted and not consumer.holds_assignment()
    assert len(dead) == 2


async def test_a_dead_letter_too_large_with_its_headers_keeps_its_origin_and_does_not_stall(
    engine: AsyncEngine, bootstrap: str
) -> None:
    topic = await _own_topic(bootstrap)
    lead = new_id()
    huge = b"x" * 1_048_400  # fits the producer's 1 MiB request limit, but not with DLQ headers
    good = activity(lead)
    await send(bootstrap, [(lead.encode(), huge), (lead.encode(), good.to_json())], topic=topic)
    handler = Recorder()
    _, task, kafka = await run_consumer(engine, bootstrap, handler, topic=topic)
    try:
        assert await eventually(lambda: _async(good.id in handler.seen))
        dead = await collect(bootstrap, dlq_topic(topic), lambda r: len(r) >= 1)
    finally:
        await stop(task, kafka)
    headers = dict(dead[0].headers)
    assert dead[0].value == b""
    assert headers["handoff-dlq-offset"] == b"0" and headers["handoff-dlq-topic"] == topic.encode()
    assert headers["handoff-dlq-value-dropped"].startswith(b"1048400 bytes")


class SlowRecorder(Recorder):
    """A handler that takes 5 ms an event inside the transaction, and notes each batch's size."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[int] = []

    async def __call__(self, uow: UnitOfWork, items: list[Inbound[Any]]) -> None:
        await asyncio.sleep(0.005 * len(items))
        self.batches.append(len(items))
        await super().__call__(uow, items)


async def send_at_once(bootstrap: str, values: list[tuple[bytes, bytes]], topic: str) -> None:
    """Send in one produce request, so a consumer finds all of them in one fetch."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=1000)
    await producer.start()
    try:
        sent = [await producer.send(topic, value, key=key) for key, value in values]
        await producer.flush()
        await asyncio.gather(*sent)
    finally:
        await producer.stop()


async def test_a_backlog_is_taken_in_batches_that_fit_the_time_budget(
    engine: AsyncEngine, bootstrap: str
) -> None:
    topic = await _own_topic(bootstrap)
    lead = new_id()
    first, second = [activity(lead) for _ in range(120)], [activity(lead) for _ in range(120)]
    handler = SlowRecorder()
    # 120 events at 5 ms are 600 ms of work: far over a 50 ms budget, far under the count cap.
    _, task, kafka = await run_consumer(engine, bootstrap, handler, topic=topic, batch_budget_ms=50)
    try:
        await send_at_once(bootstrap, [(lead.encode(), e.to_json()) for e in first], topic)
        assert await eventually(lambda: _async(first[-1].id in handler.seen))
        before = len(handler.batches)
        await send_at_once(bootstrap, [(lead.encode(), e.to_json()) for e in second], topic)
        assert await eventually(lambda: _async(second[-1].id in handler.seen))
    finally:
        await stop(task, kafka)
    assert handler.seen == [e.id for e in first + second]  # every one, once, in order
    # The first backlog ran over the budget, so the second, fetched whole, was taken in batches
    # of about 10 (10 x 5 ms = 50 ms), not in one batch of 120.
    later = handler.batches[before:]
    assert len(later) >= 6 and max(later) <= 20, handler.batches
