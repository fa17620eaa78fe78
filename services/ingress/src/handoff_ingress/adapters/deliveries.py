"""The delivery repository: (source, delivery id) claimed once, remembered for a retention, pruned.

The ingress schema's only table. A claim is an insert that returns the ids that were new; another
transaction inserting the same id (another lane or instance) waits on the row lock until the
first commits or rolls back, which is what makes 50 copies at once publish once.
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg
from sqlalchemy import (
    Column,
    DateTime,
    Index,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    text,
)
from sqlalchemy.ext.asyncio import AsyncEngine

from handoff.db import asyncpg_dsn

SCHEMA = "ingress"
metadata = MetaData(schema=SCHEMA)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("source", Text, nullable=False),
    Column("delivery_id", Text, nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
    PrimaryKeyConstraint("source", "delivery_id"),
    Index("webhook_deliveries_received_at", "received_at"),
)

DeliveryKey = tuple[str, str]  # (source, delivery id)

# Run on the lane's own asyncpg connection (a prepared statement it keeps): through SQLAlchemy,
# the statement, its transaction and the greenlet hops cost a webhook more than the insert.
_CLAIM = (
    f"INSERT INTO {SCHEMA}.webhook_deliveries (source, delivery_id) "
    "SELECT * FROM unnest($1::text[], $2::text[]) "
    "ON CONFLICT DO NOTHING RETURNING source, delivery_id"
)
_PRUNE = text(
    f"DELETE FROM {SCHEMA}.webhook_deliveries "
    "WHERE received_at < now() - make_interval(secs => :seconds)"
)


async def claim(conn: asyncpg.Connection, keys: Sequence[DeliveryKey]) -> set[DeliveryKey]:
    """Insert the keys inside the caller's transaction; the ones not seen before."""
    rows = await conn.fetch(_CLAIM, [k[0] for k in keys], [k[1] for k in keys])
    return {(r[0], r[1]) for r in rows}


async def prune(engine: AsyncEngine, older_than_seconds: float) -> int:
    """Forget delivery ids older than the retention; how many were deleted."""
    async with engine.begin() as conn:
        result = await conn.execute(_PRUNE, {"seconds": older_than_seconds})
    return int(result.rowcount or 0)


class DeliveryConnection:
    """One lane's own asyncpg connection: a pool checkout per batch costs more than the batch."""

    def __init__(self, engine: AsyncEngine, lock_timeout_ms: int) -> None:
        self.dsn = asyncpg_dsn(engine.url.render_as_string(hide_password=False))
        self.lock_timeout_ms = lock_timeout_ms
        self.conn: asyncpg.Connection | None = None

    async def connection(self) -> asyncpg.Connection:
        if self.conn is None or self.conn.is_closed():
            # No fsync wait on commit: a claim lost in a crash only means a retry is published
            # again with the same CloudEvent ids, which the consumer's inbox drops. The lock
            # timeout bounds the wait for another instance's claim of the same id.
            self.conn = await asyncpg.connect(
                self.dsn,
                server_settings={
                    "synchronous_commit": "off",
                    "lock_timeout": str(int(self.lock_timeout_ms)),
                },
            )
        return self.conn

    async def drop(self, *, broken: bool = False) -> None:
        """Close the connection (at stop), or drop it after a failure: the next batch opens
        a new one. A broken one gets no goodbye, which could hang."""
        conn, self.conn = self.conn, None
        if conn is None:
            return
        if not broken:
            try:
                await conn.close(timeout=2)
                return
            except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError):
                pass
        conn.terminate()
