"""Create the handoff topics and their dead-letter topics, leaving existing ones alone."""

from __future__ import annotations

import asyncio

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from handoff.events import ALL_TOPICS, dlq_topic


def wanted_topics() -> list[str]:
    return [t for topic in ALL_TOPICS for t in (topic, dlq_topic(topic))]


async def ensure_topics(bootstrap: str, partitions: int = 12, replication: int = 1) -> list[str]:
    """Create the missing topics; returns the names it created."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="handoff-topics")
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in wanted_topics() if t not in existing]
        if missing:
            await admin.create_topics([NewTopic(t, partitions, replication) for t in missing])
            for _ in range(50):  # metadata becomes visible shortly after creation
                if set(missing) <= set(await admin.list_topics()):
                    break
                await asyncio.sleep(0.1)
        return missing
    finally:
        await admin.close()
