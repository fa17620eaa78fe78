"""A thin producer wrapper: CloudEvents in, broker acknowledgements out."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaProducer
from aiokafka.errors import MessageSizeTooLargeError
from aiokafka.producer.message_accumulator import BatchBuilder

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
    )


def _append(batch: BatchBuilder, m: Message) -> bool:
    """False when the batch is full (an empty batch takes any one message)."""
    headers = list(m.headers)
    return batch.append(timestamp=None, key=m.key, value=m.value, headers=headers) is not None


BATCH_FROM = 128  # from this many messages in one call, send_all builds record batches itself


class Producer:
    """Sends batches and returns only when the broker has acknowledged every record."""

    def __init__(self, producer: AIOKafkaProducer) -> None:
        self.kafka = producer

    async def send_all(self, messages: Sequence[Message]) -> None:
        """Send every message; return once the broker acknowledged all of them, else raise.

        A few messages (a webhook group commit) go through `send`, joining whatever batch is
        lingering for their partition: a batch of our own would wait for that one to drain.
        Many are grouped per partition (the producer's own partitioner, so a key lands where
        `send` would put it) into record batches built in one pass: `send` costs tens of
        microseconds a message in Python, a batch append a fraction of that.
        """
        if len(messages) < BATCH_FROM:
            futures = [
                await self.kafka.send(m.topic, m.value, key=m.key, headers=list(m.headers))
                for m in messages
            ]
            await asyncio.gather(*futures)
            return
        groups: dict[tuple[str, int], list[Message]] = {}
        kafka = self.kafka
        # What `send` asks its partitioner, with the partition lists read once per call rather
        # than once per message (aiokafka's _partition copies both sets every time).
        places: dict[str, tuple[list[int], list[int]]] = {}
        for topic in {m.topic for m in messages}:
            await kafka.partitions_for(topic)  # metadata, as `send` would wait for it
            places[topic] = (
                list(kafka._metadata.partitions_for_topic(topic)),
                list(kafka._metadata.available_partitions_for_topic(topic)),
            )
        partitioner = kafka._partitioner
        for m in messages:
            every, available = places[m.topic]
            p = partitioner(m.key, every, available)
            groups.setdefault((m.topic, p), []).append(m)
        futures = []
        for (topic, p), group in groups.items():
            batch = self.kafka.create_batch()
            for m in group:
                if not _append(batch, m):
                    futures.append(await self.kafka.send_batch(batch, topic, partition=p))
                    batch = self.kafka.create_batch()
                    if not _append(batch, m):
                        raise MessageSizeTooLargeError(f"a message of {len(m.value)} bytes")
            futures.append(await self.kafka.send_batch(batch, topic, partition=p))
        await asyncio.gather(*futures)

    async def answers(self, within: float = 2.0) -> bool:
        """Ask the broker for fresh metadata: cached metadata would hide a broker that went away."""
        try:
            await asyncio.wait_for(self.kafka.client.fetch_all_metadata(), within)
        except Exception:
            return False
        return True
