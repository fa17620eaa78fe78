"""The transactional outbox: events are written with the state change and relayed to Kafka after commit.

The relay is woken by NOTIFY (sent by a statement trigger, so it arrives only after
the commit) and publishes at once, with no linger of its own; it falls back to a poll
(HANDOFF_OUTBOX_POLL_SECONDS) only if a notification is lost, and holds an advisory lock so that exactly
one relay per service publishes at a time, which keeps per-lead order. It selects
*unsent* rows in id order rather than "ids above the last one seen", because ids are
allocated before commit and a row can become visible after a higher one.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence

import asyncpg
import structlog
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Identity,
    Index,
    LargeBinary,
    MetaData,
    Table,
    Text,
    text,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from handoff.messaging.producer import Message, Producer
from handoff.metrics import OUTBOX_LAG, OUTBOX_PUBLISHED

log = structlog.get_logger("handoff.outbox")


def outbox_table(metadata: MetaData) -> Table:
    return Table(
        "outbox",
        metadata,
        Column("id", BigInteger, Identity(always=False), primary_key=True),
        Column("topic", Text, nullable=False),
        Column("key", LargeBinary, nullable=False),
        Column("value", LargeBinary, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
        Column("published_at", DateTime(timezone=True)),
        Index("outbox_unpublished", "id", postgresql_where=text("published_at IS NULL")),
    )


def channel(schema: str) -> str:
    return f"handoff_outbox_{schema}"


def outbox_notify_ddl_v1(schema: str) -> list[str]:
    """DDL for the statement trigger that wakes the relay (used by each service's migration)."""
    return [
        f"""CREATE OR REPLACE FUNCTION {schema}.outbox_notify() RETURNS trigger
            LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_notify('{channel(schema)}', ''); RETURN NULL; END $$""",
        f"""CREATE TRIGGER outbox_notify AFTER INSERT ON {schema}.outbox
            FOR EACH STATEMENT EXECUTE FUNCTION {schema}.outbox_notify()""",
    ]


async def append(conn: AsyncConnection, schema: str, messages: Sequence[Message]) -> None:
    """Add messages to the outbox inside the caller's transaction (one statement)."""
    if not messages:
        return
    await conn.execute(
        text(
            f"INSERT INTO {schema}.outbox (topic, key, value) "
            "SELECT * FROM unnest(CAST(:topics AS text[]), CAST(:keys AS bytea[]), CAST(:values AS bytea[]))"
        ),
        {
            "topics": [m.topic for m in messages],
            "keys": [m.key for m in messages],
            "values": [m.value for m in messages],
        },
    )


class OutboxRelay:
    """Publishes a service's outbox rows in id order; one active relay per schema."""

    def __init__(
        self,
        dsn: str,
        schema: str,
        producer: Producer,
        *,
        batch_size: int = 1000,
        poll_seconds: float = 1.0,
        retention_seconds: int = 3600,
    ) -> None:
        self.dsn, self.schema, self.producer = dsn, schema, producer
        self.batch_size, self.poll_seconds = batch_size, poll_seconds
        self.retention_seconds = retention_seconds
        self.active = False
        self._wake = asyncio.Event()

    async def run(self) -> None:
        """Run until cancelled, reconnecting after database errors."""
        while True:
            try:
                await self._run_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.active = False
                log.warning("outbox.relay.error", schema=self.schema, error=str(exc))
                await asyncio.sleep(self.poll_seconds)

    async def _run_once(self) -> None:
        conn = await asyncpg.connect(self.dsn)
        # The cleanup's DELETE scans the table and waits for row locks: on a connection of
        # its own, beside the publishing, it never holds up an event on its way out.
        cleaner: asyncio.Task[None] | None = None
        try:
            await self._acquire_lock(conn)
            await conn.add_listener(channel(self.schema), lambda *_: self._wake.set())
            self.active = True
            log.info("outbox.relay.active", schema=self.schema)
            last_cleanup = 0.0
            while True:
                # Cleared before the SELECT, not after it: a NOTIFY for a row committed while
                # this round publishes must wake the next round at once. Cleared after, it was
                # lost, and that row waited out the whole poll interval.
                self._wake.clear()
                published = await self.publish_pending(conn)
                if time.monotonic() - last_cleanup > 60 and (cleaner is None or cleaner.done()):
                    cleaner = asyncio.create_task(self._cleanup())
                    last_cleanup = time.monotonic()
                if published < self.batch_size:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), self.poll_seconds)
        finally:
            self.active = False
            if cleaner is not None:
                cleaner.cancel()
                await asyncio.gather(cleaner, return_exceptions=True)
            with contextlib.suppress(Exception):
                await asyncio.shield(conn.close(timeout=2))

    async def _acquire_lock(self, conn: asyncpg.Connection) -> None:
        key = f"handoff.outbox.{self.schema}"
        while not await conn.fetchval("SELECT pg_try_advisory_lock(hashtext($1))", key):  # noqa: ASYNC110
            await asyncio.sleep(self.poll_seconds)  # another instance relays; stand by

    async def publish_pending(self, conn: asyncpg.Connection) -> int:
        rows = await conn.fetch(
            f"SELECT id, topic, key, value, created_at FROM {self.schema}.outbox "
            "WHERE published_at IS NULL ORDER BY id LIMIT $1",
            self.batch_size,
        )
        if not rows:
            return 0
        await self.producer.send_all([Message(r["topic"], r["key"], r["value"]) for r in rows])
        await conn.execute(
            f"UPDATE {self.schema}.outbox SET published_at = now() WHERE id = ANY($1::bigint[])",
            [r["id"] for r in rows],
        )
        OUTBOX_PUBLISHED.labels(self.schema).inc(len(rows))
        OUTBOX_LAG.labels(self.schema).observe(time.time() - rows[0]["created_at"].timestamp())
        return len(rows)

    async def _cleanup(self) -> None:
        """Delete rows published longer ago than the retention; a failure waits for the next."""
        try:
            conn = await asyncpg.connect(self.dsn)
            try:
                await conn.execute(
                    f"DELETE FROM {self.schema}.outbox "
                    "WHERE published_at < now() - make_interval(secs => $1)",
                    float(self.retention_seconds),
                )
            finally:
                await asyncio.shield(conn.close(timeout=2))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("outbox.cleanup.error", schema=self.schema, error=str(exc))
