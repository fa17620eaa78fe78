"""The batch consumer loop on the real broker and database: DLQ, inbox dedupe, halting."""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from sqlalchemy.ext.asyncio import AsyncEngine

from handoff.db import UnitOfWork, UnitOfWorkFactory
from handoff.events import dlq_topic, signals
from handoff.messaging.consumer import BatchConsumer, Inbound
from handoff.messaging.producer import Producer, make_producer
from handoff.settings import HandoffSettings
from tests.factories import activity, new_id
from tests.integration.kafka_helpers import collect, eventually

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
    topic: str = TOPIC,
) -> tuple[BatchConsumer, asyncio.Task[None], AIOKafkaProducer]:
    settings = HandoffSettings(
        kafka_bootstrap_servers=bootstrap,
        consumer_max_dead_letters_in_row=max_dead,
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
    lead = new_id()
    good = activity(lead)
    await send(bootstrap, [(lead.encode(), b"{not json"), (lead.encode(), good.to_json())])
    handler = Recorder()
    _, task, kafka = await run_consumer(engine, bootstrap, handler)
    try:
        assert await eventually(lambda: _async(good.id in handler.seen))
        dead = await collect(
            bootstrap, dlq_topic(TOPIC), lambda r: len(r) >= 1, keys={lead.encode()}
        )
    finally:
        await stop(task, kafka)
    assert dead[0].value == b"{not json"
    headers = dict(dead[0].headers)
    assert headers["handoff-dlq-topic"] == TOPIC.encode()
    assert b"json" in headers["handoff-dlq-error"].lower()
    assert int(headers["handoff-dlq-offset"]) >= 0


async def test_the_same_event_id_is_applied_once(engine: AsyncEngine, bootstrap: str) -> None:
    lead = new_id()
    event = activity(lead)
    await send(bootstrap, [(lead.encode(), event.to_json())] * 3)
    handler = Recorder()
    _, task, kafka = await run_consumer(engine, bootstrap, handler)
    try:
        await eventually(lambda: _async(event.id in handler.seen))
        await asyncio.sleep(0.5)
    finally:
        await stop(task, kafka)
    assert handler.seen.count(event.id) == 1


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
