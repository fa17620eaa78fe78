"""The outbox relay on real PostgreSQL and the real broker: order, late-visible rows, one active relay."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Sequence
from datetime import datetime

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from handoff.db import asyncpg_dsn
from handoff.messaging import outbox
from handoff.messaging.outbox import OutboxRelay
from handoff.messaging.producer import Message, Producer, make_producer
from handoff.settings import HandoffSettings
from tests.factories import new_id
from tests.integration.kafka_helpers import collect, eventually

# The scoring schema's outbox is a real one; a test topic keeps these rows away from consumers.
SCHEMA = "scoring"
TOPIC = "handoff.signals.v1.dlq"


@pytest.fixture
async def producer(bootstrap: str):  # type: ignore[no-untyped-def]
    kafka = make_producer(HandoffSettings(kafka_bootstrap_servers=bootstrap), "test-relay")
    await kafka.start()
    yield Producer(kafka)
    await kafka.stop()


@contextlib.asynccontextmanager
async def running(relay: OutboxRelay):  # type: ignore[no-untyped-def]
    task = asyncio.create_task(relay.run())
    try:
        yield task
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_the_relay_publishes_in_id_order_and_marks_rows_sent(
    engine: AsyncEngine, database_url: str, bootstrap: str, producer: Producer
) -> None:
    key = new_id().encode()
    async with engine.begin() as conn:
        await outbox.append(conn, SCHEMA, [Message(TOPIC, key, f"{n}".encode()) for n in range(20)])
    relay = OutboxRelay(asyncpg_dsn(database_url), SCHEMA, producer, poll_seconds=0.2)
    async with running(relay):
        records = await collect(bootstrap, TOPIC, lambda r: len(r) >= 20, keys={key})
        # Marked after the broker acknowledged them: wait for that while the relay runs (a relay
        # stopped in between publishes them again, at least once being the promise).
        assert await eventually(lambda: _all_marked_sent(engine, key), within=10)
    assert [r.value for r in records] == [f"{n}".encode() for n in range(20)]


async def _all_marked_sent(engine: AsyncEngine, key: bytes) -> bool:
    async with engine.connect() as conn:
        unsent = await conn.scalar(
            text(f"SELECT count(*) FROM {SCHEMA}.outbox WHERE key = :k AND published_at IS NULL"),
            {"k": key},
        )
    return bool(unsent == 0)


async def test_a_row_that_becomes_visible_late_is_still_published(
    engine: AsyncEngine, database_url: str, bootstrap: str, producer: Producer
) -> None:
    key = new_id().encode()
    relay = OutboxRelay(asyncpg_dsn(database_url), SCHEMA, producer, poll_seconds=0.2)
    async with running(relay), engine.connect() as slow:
        # The slow transaction takes the lower id first but commits last.
        await slow.begin()
        await outbox.append(slow, SCHEMA, [Message(TOPIC, key, b"early-id-late-commit")])
        async with engine.begin() as fast:
            await outbox.append(fast, SCHEMA, [Message(TOPIC, key, b"late-id-early-commit")])
        first = await collect(bootstrap, TOPIC, lambda r: len(r) >= 1, keys={key})
        assert [r.value for r in first] == [b"late-id-early-commit"]
        await slow.commit()
        both = await collect(bootstrap, TOPIC, lambda r: len(r) >= 2, keys={key})
    assert sorted(r.value for r in both) == [b"early-id-late-commit", b"late-id-early-commit"]


async def test_only_one_relay_per_schema_is_active(
    engine: AsyncEngine, database_url: str, producer: Producer
) -> None:
    first = OutboxRelay(asyncpg_dsn(database_url), SCHEMA, producer, poll_seconds=0.1)
    second = OutboxRelay(asyncpg_dsn(database_url), SCHEMA, producer, poll_seconds=0.1)
    async with running(first):
        assert await eventually(lambda: _async(first.active), within=10), "the first is active"
        async with running(second):
            # Seen from PostgreSQL: the second asks for the lock (the module's database is its
            # own, so no other relay is asking), is refused, and asks again.
            asked = await eventually(lambda: _last_lock_request(engine), within=10)
            assert asked is not None, "the second relay asked for the lock"
            assert await eventually(lambda: _later(_last_lock_request(engine), asked), within=10)
            assert first.active and not second.active
        assert first.active
    # With the first gone the lock is free: the relay that stood by takes over.
    async with running(second):
        assert await eventually(lambda: _async(second.active), within=10)


async def _async(value: bool) -> bool:
    return value


async def _later(at: Awaitable[datetime | None], than: datetime) -> bool:
    return (await at or than) > than


async def _last_lock_request(engine: AsyncEngine) -> datetime | None:
    """When a backend of this database last started asking for an advisory lock."""
    async with engine.connect() as conn:
        at: datetime | None = await conn.scalar(
            text(
                "SELECT max(query_start) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                "AND query LIKE 'SELECT pg_try_advisory_lock%'"
            )
        )
    return at


class _CommitsWhileSending(Producer):
    """A producer that, during its first send, has another transaction commit an outbox row
    and waits until the relay was told of it (the NOTIFY arrives while the relay is busy)."""

    def __init__(self, inner: Producer, engine: AsyncEngine, key: bytes) -> None:
        super().__init__(inner.kafka)
        self.engine, self.key, self.relay = engine, key, None
        self.done = False

    async def send_all(self, messages: Sequence[Message]) -> None:
        await super().send_all(messages)
        if self.done or not any(m.key == self.key for m in messages):
            return
        self.done = True
        async with self.engine.begin() as conn:
            await outbox.append(conn, SCHEMA, [Message(TOPIC, self.key, b"committed-meanwhile")])
        assert self.relay is not None
        relay = self.relay
        assert await eventually(lambda: _async(relay._wake.is_set()), within=10)


async def test_a_row_committed_while_the_relay_publishes_is_published_without_the_poll(
    engine: AsyncEngine, database_url: str, producer: Producer
) -> None:
    key = new_id().encode()
    async with engine.begin() as conn:
        await outbox.append(conn, SCHEMA, [Message(TOPIC, key, b"first")])
    sending = _CommitsWhileSending(producer, engine, key)
    # The poll is far longer than the check: only the NOTIFY can publish the second row in time.
    relay = OutboxRelay(asyncpg_dsn(database_url), SCHEMA, sending, poll_seconds=120)
    sending.relay = relay  # type: ignore[assignment]
    async with running(relay):
        assert await eventually(lambda: _async(sending.done), within=15)
        assert await eventually(lambda: _all_marked_sent(engine, key), within=5)


async def test_the_cleanup_waiting_on_a_lock_does_not_hold_up_publishing(
    engine: AsyncEngine, database_url: str, producer: Producer
) -> None:
    key = new_id().encode()
    async with engine.begin() as conn:
        old = await conn.scalar(
            text(
                f"INSERT INTO {SCHEMA}.outbox (topic, key, value, published_at) "
                "VALUES (:t, :k, 'published long ago', now() - interval '2 hours') RETURNING id"
            ),
            {"t": TOPIC, "k": key},
        )
    relay = OutboxRelay(
        asyncpg_dsn(database_url), SCHEMA, producer, poll_seconds=120, retention_seconds=3600
    )
    async with engine.connect() as holder:
        # Another transaction holds the row the cleanup must delete: its DELETE waits.
        await holder.begin()
        await holder.execute(
            text(f"SELECT 1 FROM {SCHEMA}.outbox WHERE id = :id FOR UPDATE"), {"id": old}
        )
        async with running(relay):
            assert await eventually(lambda: _cleanup_waits_on_a_lock(engine), within=10)
            async with engine.begin() as conn:
                await outbox.append(conn, SCHEMA, [Message(TOPIC, key, b"while-cleaning")])
            assert await eventually(lambda: _all_marked_sent(engine, key), within=5)
        await holder.rollback()


async def _cleanup_waits_on_a_lock(engine: AsyncEngine) -> bool:
    async with engine.connect() as conn:
        waiting = await conn.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND query LIKE 'DELETE FROM %outbox%'"
            )
        )
    return bool(waiting)
