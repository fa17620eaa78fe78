"""A thin producer wrapper: CloudEvents in, broker acknowledgements out."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaProducer

from handoff.events.envelope import CONTENT_TYPE_HEADER, CloudEvent
from handoff.settings import HandoffSettings


@dataclass(frozen=True, slots=True)
class Message:
    """A record ready for the broker: the key is always the lead id."""

    topic: str
    key: bytes
    value: bytes
    headers: tuple[tuple[str, bytes], ...] = (CONTENT_TYPE_HEADER,)

    @classmethod
    def of(cls, topic: str, event: CloudEvent) -> Message:  # type: ignore[type-arg]
        return cls(topic, (event.subject or "").encode(), event.to_json())


def make_producer(settings: HandoffSettings, client_id: str) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        client_id=client_id,
        acks="all",
        enable_idempotence=settings.kafka_enable_idempotence,
        linger_ms=settings.kafka_linger_ms,
        request_timeout_ms=settings.kafka_request_timeout_ms,
        max_batch_size=1_048_576,
        # The API checks each record against the same number before publishing (413).
        max_request_size=settings.kafka_max_request_bytes,
    )


class Producer:
    """Sends batches and returns only when the broker has acknowledged every record."""

    def __init__(self, producer: AIOKafkaProducer) -> None:
        self.kafka = producer

    async def send_all(self, messages: Sequence[Message]) -> None:
        futures = [
            await self.kafka.send(m.topic, m.value, key=m.key, headers=list(m.headers))
            for m in messages
        ]
        await asyncio.gather(*futures)

    async def answers(self, within: float = 2.0) -> bool:
        """Ask the broker for fresh metadata: cached metadata would hide a broker that went away."""
        try:
            await asyncio.wait_for(self.kafka.client.fetch_all_metadata(), within)
        except Exception:
            return False
        return True
