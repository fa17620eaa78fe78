"""Reading topics in tests: collect what arrived for given leads, from the beginning, without a group.

`collect` waits for something to arrive; `read_to_end` proves an absence: it reads every
partition to the high watermark its fetches report (the embedded broker answers ListOffsets
wrongly), so what is not in its answer had not been written when it looked."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition


async def collect(
    bootstrap: str,
    topic: str,
    until: Callable[[list[ConsumerRecord[bytes, bytes]]], bool],
    *,
    keys: set[bytes] | None = None,
    within: float = 30.0,
) -> list[ConsumerRecord[bytes, bytes]]:
    """Records of `topic` (only `keys` if given) read from the start until `until` holds or time runs out."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest"
    )
    await consumer.start()
    found: list[ConsumerRecord[bytes, bytes]] = []
    deadline = time.monotonic() + within
    try:
        while time.monotonic() < deadline and not until(found):
            batch = await consumer.getmany(timeout_ms=200)
            for records in batch.values():
                found.extend(r for r in records if keys is None or r.key in keys)
        return found
    finally:
        await consumer.stop()


async def read_to_end(
    bootstrap: str, topic: str, *, keys: set[bytes] | None = None, within: float = 30.0
) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record of `topic` (only `keys` if given) up to the high watermark of each partition,
    as fetched once the read began: all that had been written by then, whatever its timing."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await consumer.start()
    try:
        deadline = time.monotonic() + within
        partitions = consumer.partitions_for_topic(topic)
        while not partitions:
            assert time.monotonic() < deadline, f"no partitions of {topic} within {within}s"
            await consumer.topics()  # fresh metadata
            partitions = consumer.partitions_for_topic(topic)
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        found: list[ConsumerRecord[bytes, bytes]] = []
        positions = dict.fromkeys(tps, 0)
        ends: dict[TopicPartition, int] = {}
        while any(tp not in ends or positions[tp] < ends[tp] for tp in tps):
            assert time.monotonic() < deadline, f"{topic} not read to its end within {within}s"
            batch = await consumer.getmany(timeout_ms=200)
            for tp, records in batch.items():
                found.extend(r for r in records if keys is None or r.key in keys)
                if records:
                    positions[tp] = records[-1].offset + 1
            for tp in tps:
                # The first high watermark a fetch reports is the end to read to.
                high = consumer.highwater(tp)
                if tp not in ends and high is not None:
                    ends[tp] = high
        return found
    finally:
        await consumer.stop()


async def eventually(check: Callable[[], Any], within: float = 30.0, interval: float = 0.1) -> Any:
    """Await an async check until it returns a truthy value."""
    deadline = time.monotonic() + within
    while True:
        result = await check()
        if result or time.monotonic() > deadline:
            return result
        await asyncio.sleep(interval)
