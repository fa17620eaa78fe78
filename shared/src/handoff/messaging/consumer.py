"""The batch consumer loop every service runs.

getmany (at most a count and about a time budget's worth, see batching.py) -> parse
(dead letters to `<topic>.dlq`) -> one transaction: inbox claim,
handler, commit -> commit the Kafka offsets. A crash between the two commits
replays the batch and the inbox drops what was already applied.

A poison event (one that parses but makes the handler fail for a reason other than
a transient database or broker error) never stops the partition: the batch is tried
a few times, then split in halves, each applied in a fresh transaction (so the inbox
claims of a failed try are rolled back and claimed again), until the event at fault
is alone; it goes to `<topic>.dlq` and everything else is applied once.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import structlog
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError, MessageSizeTooLargeError
from pydantic import TypeAdapter, ValidationError
from sqlalchemy import text

from handoff.db import UnitOfWork
from handoff.events.envelope import UnknownEventType, parse_event
from handoff.messaging import inbox
from handoff.messaging.batching import BatchSizer
from handoff.messaging.dead_letters import (
    DLQ_HEADER_PREFIX,
    VALUE_DROPPED,
    dead_letter,
    error_text,
    is_transient_db_error,
    without_value,
)
from handoff.messaging.producer import Message, Producer
from handoff.metrics import (
    APPLY_FAILURES,
    BATCH_SECONDS,
    CONSUMER_RUNNING,
    DEAD_LETTERS,
    EVENTS_CONSUMED,
    EVENTS_DUPLICATE,
    EVENTS_SKIPPED,
    POISON_EVENTS,
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


# A batch handler: applies events of type E (the union its consumer parses) in one unit of work.
Handler = Callable[[UnitOfWork, list[Inbound[E]]], Awaitable[None]]


class ConsumerHalted(Exception):
    """Too many dead letters in a row: a bad deploy must not dead-letter a whole topic."""


__all__ = [  # the dead-letter format stays importable from here, where it used to live
    "DLQ_HEADER_PREFIX",
    "VALUE_DROPPED",
    "BatchConsumer",
    "ConsumerHalted",
    "Inbound",
    "dead_letter",
]


class BatchConsumer:
    """Consumes `topics` as consumer group `name` and applies batches with `handler`."""

    def __init__(
        self,
        *,
        name: str,
        schema: str,
        adapters: Mapping[str, TypeAdapter[Any]],
        handler: Handler[Any],
        uow_factory: Callable[[], UnitOfWork],
        producer: Producer,
        settings: HandoffSettings,
    ) -> None:
        self.name, self.schema, self.adapters = name, schema, dict(adapters)
        self.handler, self.uow_factory, self.producer = handler, uow_factory, producer
        self.settings = settings
        self.dead_in_row = 0
        self.poison_in_row = 0  # poison events since the handler last applied something
        self.halted = False
        self.kafka: AIOKafkaConsumer | None = None
        # A batch is bounded by a count and by a time budget (docs/running.md, "Latency").
        self.sizer = BatchSizer(
            most=settings.consumer_batch_max,
            budget_seconds=settings.consumer_batch_budget_ms / 1000,
        )

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
            fetch_max_wait_ms=self.settings.kafka_fetch_max_wait_ms,
            session_timeout_ms=self.settings.kafka_session_timeout_ms,
            heartbeat_interval_ms=max(1000, self.settings.kafka_session_timeout_ms // 4),
        )
        try:
            await self.kafka.start()
            CONSUMER_RUNNING.labels(self.name).set(1)
            log.info("consumer.started", consumer=self.name, topics=list(self.adapters))
            while True:
                # Returns as soon as the fetcher holds records (it never waits to fill a batch);
                # the timeout only bounds an idle wait.
                batches = await self.kafka.getmany(timeout_ms=500, max_records=self.sizer.limit)
                if batches:
                    started = time.perf_counter()
                    await self.apply(batches)
                    self.sizer.observe(
                        sum(len(recs) for recs in batches.values()), time.perf_counter() - started
                    )
                    await self._commit_offsets(batches)
        except ConsumerHalted:
            self.halted = True
            log.error(
                "consumer.halted",
                consumer=self.name,
                dead_letters_in_row=self.dead_in_row,
                poison_in_row=self.poison_in_row,
                hint="too many dead letters in a row; fix the producer, the schema or the "
                "handler and restart",
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
                error = error_text(exc)
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
            await self._send_dead_letters(dead)
        if good:
            await self._apply_isolating_poison(good, records)
        BATCH_SECONDS.labels(self.name).observe(time.perf_counter() - started)

    async def _apply_isolating_poison(
        self, items: list[Inbound[Any]], raw: Sequence[ConsumerRecord[bytes, bytes]]
    ) -> None:
        """Apply the batch; if the handler keeps failing, find the events at fault and
        dead-letter them, applying everything else once."""
        failures: Counter[int] = Counter()  # failed transactions per item, by position
        numbered = list(enumerate(items))
        error: BaseException = RuntimeError("not tried")
        for attempt in range(1, self.settings.consumer_poison_attempts + 1):
            failed = await self._try_apply(numbered, failures)
            if failed is None:
                return
            error = failed
            log.warning(
                "consumer.apply.failed",
                consumer=self.name,
                attempt=attempt,
                events=len(items),
                error=error_text(error),
            )
            if attempt < self.settings.consumer_poison_attempts:
                await asyncio.sleep(self.settings.consumer_poison_retry_seconds * attempt)
        await self._bisect(numbered, failures, error, raw)

    async def _bisect(
        self,
        numbered: list[tuple[int, Inbound[Any]]],
        failures: Counter[int],
        error: BaseException,
        raw: Sequence[ConsumerRecord[bytes, bytes]],
    ) -> None:
        """`numbered` failed together: apply each half on its own, in order, splitting again
        any half that fails, until a failing event is alone."""
        if len(numbered) == 1:
            await self._isolated(numbered[0], failures, error, raw)
            return
        middle = len(numbered) // 2
        for half in (numbered[:middle], numbered[middle:]):
            half_error = await self._try_apply(half, failures)
            if half_error is not None:
                await self._bisect(half, failures, half_error, raw)

    async def _isolated(
        self,
        item: tuple[int, Inbound[Any]],
        failures: Counter[int],
        error: BaseException,
        raw: Sequence[ConsumerRecord[bytes, bytes]],
    ) -> None:
        # A failure while the database itself does not answer is an outage, not a poison event:
        # wait for the database and try again rather than dead-letter good work.
        while not await self._database_answers():
            log.warning("consumer.database.unavailable", consumer=self.name, retry_in=1.0)
            await asyncio.sleep(1.0)
            if (retry := await self._try_apply([item], failures)) is None:
                return
            error = retry
        position, inbound = item
        await self._dead_letter_poison(inbound, error, failures[position], raw)

    async def _try_apply(
        self, numbered: list[tuple[int, Inbound[Any]]], failures: Counter[int]
    ) -> BaseException | None:
        """Apply in a fresh transaction (transient errors retried for ever); the error if the
        handler failed, after counting it against every event that was part of the try."""
        try:
            await self._with_retry(
                lambda: self._apply_in_transaction([i for _, i in numbered]), "apply"
            )
        except ConsumerHalted:
            raise
        except Exception as exc:
            APPLY_FAILURES.labels(self.name).inc()
            for position, _ in numbered:
                failures[position] += 1
            return exc
        return None

    async def _dead_letter_poison(
        self,
        inbound: Inbound[Any],
        error: BaseException,
        attempts: int,
        raw: Sequence[ConsumerRecord[bytes, bytes]],
    ) -> None:
        self.poison_in_row += 1
        if self.poison_in_row > self.settings.consumer_max_dead_letters_in_row:
            raise ConsumerHalted from error
        record = next(
            r
            for r in raw
            if (r.topic, r.partition, r.offset)
            == (inbound.topic, inbound.partition, inbound.offset)
        )
        text_ = error_text(error)
        event = inbound.event
        log.error(
            "consumer.poison",
            consumer=self.name,
            lead_id=_lead_id(event, record),
            event_id=event.id,
            topic=inbound.topic,
            partition=inbound.partition,
            offset=inbound.offset,
            attempts=attempts,
            error=text_,
        )
        message = dead_letter(record, text_, self.name, stage="apply", attempts=attempts)
        await self._send_dead_letters([message])
        POISON_EVENTS.labels(self.name, inbound.topic).inc()
        DEAD_LETTERS.labels(self.name, inbound.topic).inc()

    async def _send_dead_letters(self, messages: list[Message]) -> None:
        try:
            await self._send_to_dlq(messages)
            return
        except MessageSizeTooLargeError:
            pass
        # A record near the size limit plus the DLQ headers can be too large to send; retrying
        # would stall the partition for ever. Send the others whole, and for that one its
        # headers only: they name the origin, where the value can still be read.
        for message in messages:
            try:
                await self._send_to_dlq([message])
            except MessageSizeTooLargeError:
                stub = without_value(message)
                log.error(
                    "consumer.dead_letter.too_large",
                    consumer=self.name,
                    topic=dict(stub.headers)["handoff-dlq-topic"].decode(),
                    offset=dict(stub.headers)["handoff-dlq-offset"].decode(),
                    bytes=len(message.value),
                )
                await self._send_to_dlq([stub])

    async def _send_to_dlq(self, messages: list[Message]) -> None:
        await self._with_retry(lambda: self.producer.send_all(messages), "dlq")

    async def _database_answers(self) -> bool:
        try:
            async with self.uow_factory() as uow:
                await uow.conn.execute(text("SELECT 1"))
        except Exception:
            return False
        return True

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
        if unique:
            self.poison_in_row = 0
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
            except MessageSizeTooLargeError:
                raise  # no retry makes it smaller
            except (OSError, KafkaError, ConnectionError) as exc:
                log.warning(
                    "consumer.retry",
                    consumer=self.name,
                    step=what,
                    error=error_text(exc),
                    retry_in=delay,
                )
            except Exception as exc:
                if not is_transient_db_error(exc):
                    raise
                log.warning(
                    "consumer.retry",
                    consumer=self.name,
                    step=what,
                    error=error_text(exc),
                    retry_in=delay,
                )
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


def _lead_id(event: Any, record: ConsumerRecord[bytes, bytes]) -> str:
    data = getattr(event, "data", None)
    lead = getattr(data, "lead_id", None) or getattr(event, "subject", None)
    return str(lead) if lead else (record.key or b"").decode(errors="replace")
