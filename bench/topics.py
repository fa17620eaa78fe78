"""Reading topics without trusting the broker's ListOffsets end, which the embedded broker gets
wrong (it answers the last batch's base offset + 1; docs/running.md, "The embedded broker").

Readers start at offset 0 and learn where a partition ends from the high watermark that every
fetch response carries; never end_offsets, seek_to_end or auto_offset_reset="latest".
"""

from __future__ import annotations

import time

from aiokafka import AIOKafkaConsumer, TopicPartition


async def assign_from_start(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    """Assign every partition of `topic` at offset 0 (a started consumer without a group)."""
    partitions = consumer.partitions_for_topic(topic)
    if not partitions:
        await consumer.topics()  # refreshes the metadata of every topic
        partitions = consumer.partitions_for_topic(topic)
    tps = [TopicPartition(topic, p) for p in sorted(partitions or ())]
    if not tps:
        raise RuntimeError(f"topic {topic} has no partitions the broker knows of")
    consumer.assign(tps)
    for tp in tps:
        consumer.seek(tp, 0)
    return tps


async def behind(consumer: AIOKafkaConsumer, tps: list[TopicPartition]) -> list[TopicPartition]:
    """The partitions not yet read up to the high watermark of their latest fetch."""
    out = []
    for tp in tps:
        highwater = consumer.highwater(tp)
        if highwater is None or await consumer.position(tp) < highwater:
            out.append(tp)
    return out


async def skip_to_end(
    consumer: AIOKafkaConsumer, tps: list[TopicPartition], within: float = 120.0
) -> int:
    """Read and drop what is already on `tps`, so that what the consumer returns next was
    produced after this call began; the number of records skipped."""
    deadline = time.monotonic() + within
    skipped = 0
    while left := await behind(consumer, tps):
        if time.monotonic() > deadline:
            raise TimeoutError(f"still behind on {left} after {within:.0f} s")
        for records in (await consumer.getmany(*left, timeout_ms=100)).values():
            skipped += len(records)
    return skipped


async def high_watermarks(bootstrap: str, topic: str, within: float = 30.0) -> dict[int, int]:
    """Each partition's end, from the high watermark of one fetch per partition."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, max_partition_fetch_bytes=1024
    )
    await consumer.start()
    try:
        tps = await assign_from_start(consumer, topic)
        deadline = time.monotonic() + within
        while unknown := [tp for tp in tps if consumer.highwater(tp) is None]:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no fetch answered for {unknown} within {within:.0f} s")
            await consumer.getmany(*unknown, timeout_ms=100, max_records=1)
        return {tp.partition: consumer.highwater(tp) or 0 for tp in tps}
    finally:
        await consumer.stop()
