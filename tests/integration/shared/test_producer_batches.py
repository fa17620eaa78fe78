"""Producer.send_all on the real broker: every key keeps its order and lands where the partitioner says."""

from __future__ import annotations

import time

import pytest
from aiokafka.partitioner import DefaultPartitioner

from handoff.messaging.producer import Message, Producer, make_producer
from handoff.settings import HandoffSettings
from tests.factories import new_id
from tests.integration.kafka_helpers import collect

TOPIC = "handoff.signals.v1.dlq"  # no consumer reads it in the tests


@pytest.fixture
async def producer(bootstrap: str):  # type: ignore[no-untyped-def]
    kafka = make_producer(HandoffSettings(kafka_bootstrap_servers=bootstrap), "test-batches")
    await kafka.start()
    yield Producer(kafka)
    await kafka.stop()


@pytest.mark.parametrize("count", [127, 600])
async def test_send_all_lands_each_key_where_send_would_in_order_with_headers(
    bootstrap: str, producer: Producer, count: int
) -> None:
    run = new_id()
    keys = [f"{run}-{n}".encode() for n in range(12)]
    # 600 messages of 2 kB overflow one 1 MB record batch per partition: several batches.
    pad = b"x" * (2000 if count > 100 else 10)
    sent = [Message(TOPIC, keys[n % len(keys)], b"%d:" % n + pad) for n in range(count)]
    before = time.time()
    await producer.send_all(sent)  # returns only once the broker acknowledged all
    records = await collect(bootstrap, TOPIC, lambda r: len(r) >= count, keys=set(keys))
    assert len(records) == count
    partitions = sorted(await producer.kafka.partitions_for(TOPIC))
    for key in keys:
        mine = [r for r in records if r.key == key]
        expected = [m.value for m in sent if m.key == key]
        assert [r.value for r in mine] == expected
        assert {r.partition for r in mine} == {DefaultPartitioner()(key, partitions, partitions)}
    for r in records:
        assert list(r.headers) == [("content-type", sent[0].headers[0][1])]
        assert before - 60 <= r.timestamp / 1000 <= time.time() + 60
