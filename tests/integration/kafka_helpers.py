"""Reading topics in tests: collect what arrived for given leads, from the beginning, without a group."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord


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


async def eventually(check: Callable[[], Any], within: float = 30.0, interval: float = 0.1) -> Any:
    """Await an async check until it returns a truthy value."""
    deadline = time.monotonic() + within
    while True:
        result = await check()
        if result or time.monotonic() > deadline:
            return result
        await asyncio.sleep(interval)
