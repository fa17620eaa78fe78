"""The batch consumer loop every service runs.

getmany -> parse (dead letters to `<topic>.dlq`) -> one transaction: inbox claim,
handler, commit -> commit the Kafka offsets. A crash between the two commits
replays the batch and the inbox drops what was already applied.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import structlog
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError
from pydantic import TypeAdapter, ValidationError

from handoff.db import UnitOfWork
from handoff.events import dlq_topic
from handoff.events.envelope import UnknownEventType, parse_event
from handoff.messaging import inbox
from handoff.messaging.producer import Message, Producer
from handoff.metrics import (
    BATCH_SECONDS,
    CONSUMER_RUNNING,
    DEAD_LETTERS,
    EVENTS_CONSUMED,
    EVENTS_DUPLICATE,
    EVENTS_SKIPPED,
)
from handoff.settings import HandoffSettings

log = structlog.get_logger("handoff.consumer")

E = TypeVar("E")


@dataclass(frozen=True, slots=True)
class Inbound(Generic[E]):
    """A parsed event with where it came from, for logs and ordering."""

    event: E
    topic: str
    partition: int
    offset: int


Handler = Callable[[UnitOfWork, list[Inbound[Any]]], Awaitable[None]]


class ConsumerHalted(Exception):
    """Too many dead letters in a row: a bad deploy must not dead-letter a whole topic."""


def dead_letter(record: ConsumerRecord[bytes, bytes], error: str, consumer: str) -> Message:
    headers = (
        ("handoff-dlq-error", error[:1000].encode()),
        ("handoff-dlq-topic", record.topic.encode()),
        ("handoff-dlq-partition", str(record.partition).encode()),
        ("handoff-dlq-offset", str(record.offset).encode()),
        ("handoff-dlq-consumer", consumer.encode()),
        *((k, v) for k, v in (record.headers or ()) if not k.startswith("handoff-dlq-")),
    )
    return Message(dlq_topic(record.topic), record.key or b"", record.value or b"", headers)


def _error_text(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        return f"{first['type']} at {where or 'value'}: {first['msg']}"
    return f"{type(exc).__name__}: {exc}"


class BatchConsumer:
    """Consumes `topics` as consumer group `name` and applies batches with `handler`."""

    def __init__(
        self,
        *,
        name: str,
        schema: str,
        adapters: Mapping[str, TypeAdapter[Any]],
        handler: Handler,
        uow_factory: Callable[[], UnitOfWork],
        producer: Producer,
        settings: HandoffSettings,
    ) -> None:
        self.name, self.schema, self.adapters = name, schema, dict(adapters)
        self.handler, self.uow_factory, self.producer = handler, uow_factory, producer
        self.settings = settings
        self.dead_in_row = 0
        self.halted = False
        self.kafka: AIOKafkaConsumer | None = None

    def holds_assignment(self) -> bool:
        return self.kafka is not None and not self.halted and bool(self.kafka.assignment())

    async def run(self) -> None:
        self.kafka = AIOKafkaConsumer(
            *self.adapters,
            bootstrap_servers=self.settings.kafka_bootstrap_servers,
            group_id=self.name,
            client_id=self.name,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=self.settings.consumer_batch_max,
            fetch_max_wait_ms=self.settings.consumer_fetch_max_wait_ms,
            session_timeout_ms=self.settings.kafka_session_timeout_ms,
            heartbeat_interval_ms=max(1000, self.settings.kafka_session_timeout_ms // 4),
        )
        try:
            await self.kafka.start()
            CONSUMER_RUNNING.labels(self.name).set(1)
            log.info("consumer.started", consumer=self.name, topics=list(self.adapters))
            while True:
                batches = await self.kafka.getmany(
                    timeout_ms=500, max_records=self.settings.consumer_batch_max
                )
                if batches:
                    await self.apply(batches)
                    await self._commit_offsets(batches)
        except ConsumerHalted:
            self.halted = True
            log.error(
                "consumer.halted",
                consumer=self.name,
                dead_letters_in_row=self.dead_in_row,
                hint="too many unparseable values in a row; fix the producer or the schema and restart",
            )
        finally:
            CONSUMER_RUNNING.labels(self.name).set(0)
            await asyncio.shield(self.kafka.stop())

    async def _commit_offsets(
        self, batches: Mapping[TopicPartition, list[ConsumerRecord[bytes, bytes]]]
    ) -> None:
        assert self.kafka is not None
        try:
            await self.kafka.commit({tp: recs[-1].offset + 1 for tp, recs in batches.items()})
        except CommitFailedError:
            # Partitions moved during the batch; the new owner replays it and the inbox drops it.
            log.warning("consumer.commit.rebalanced", consumer=self.name)

    def parse(
        self, records: list[ConsumerRecord[bytes, bytes]]
    ) -> tuple[list[Inbound[Any]], list[Message]]:
        good: list[Inbound[Any]] = []
        dead: list[Message] = []
        for rec in records:
            try:
                event = parse_event(self.adapters[rec.topic], rec.value or b"")
            except UnknownEventType:
                EVENTS_SKIPPED.labels(self.name).inc()
                self.dead_in_row = 0
                continue
            except (ValidationError, ValueError) as exc:
                error = _error_text(exc)
                log.warning(
                    "consumer.dead_letter",
                    consumer=self.name,
                    topic=rec.topic,
                    partition=rec.partition,
                    offset=rec.offset,
                    error=error,
                )
                dead.append(dead_letter(rec, error, self.name))
                DEAD_LETTERS.labels(self.name, rec.topic).inc()
                self.dead_in_row += 1
                if self.dead_in_row > self.settings.consumer_max_dead_letters_in_row:
                    raise ConsumerHalted from exc
                continue
            self.dead_in_row = 0
            good.append(Inbound(event, rec.topic, rec.partition, rec.offset))
        return good, dead

    async def apply(
        self, batches: Mapping[TopicPartition, list[ConsumerRecord[bytes, bytes]]]
    ) -> None:
        started = time.perf_counter()
        records = [rec for recs in batches.values() for rec in recs]
        good, dead = self.parse(records)
        if dead:
            await self._with_retry(lambda: self.producer.send_all(dead), "dlq")
        if good:
            await self._with_retry(lambda: self._apply_in_transaction(good), "apply")
        BATCH_SECONDS.labels(self.name).observe(time.perf_counter() - started)

    async def _apply_in_transaction(self, items: list[Inbound[Any]]) -> None:
        async with self.uow_factory() as uow:
            fresh = await inbox.claim(
                uow.conn, self.schema, [(i.event.source, i.event.id) for i in items]
            )
            new = [i for i in items if (i.event.source, i.event.id) in fresh]
            # Within one batch the same id can come twice: keep the first.
            seen: set[tuple[str, str]] = set()
            unique = []
            for i in new:
                key = (i.event.source, i.event.id)
                if key not in seen:
                    seen.add(key)
                    unique.append(i)
            if unique:
                await self.handler(uow, unique)
            await uow.commit()
        if len(unique) < len(items):
            EVENTS_DUPLICATE.labels(self.name).inc(len(items) - len(unique))
        for topic, count in Counter(i.topic for i in unique).items():
            EVENTS_CONSUMED.labels(self.name, topic).inc(count)

    async def _with_retry(self, step: Callable[[], Awaitable[None]], what: str) -> None:
        delay = 0.2
        while True:
            try:
                await step()
                return
            except (OSError, KafkaError, ConnectionError) as exc:
                log.warning(
                    "consumer.retry", consumer=self.name, step=what, error=str(exc), retry_in=delay
                )
            except Exception as exc:
                if not _is_transient_db_error(exc):
                    raise
                log.warning(
                    "consumer.retry", consumer=self.name, step=what, error=str(exc), retry_in=delay
                )
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


def _is_transient_db_error(exc: Exception) -> bool:
    from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

    if isinstance(exc, OperationalError | InterfaceError):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)
