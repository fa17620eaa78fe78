"""The delivery repository: (source, delivery id) claimed once, remembered for a retention, pruned.

The ingress schema's only table. A claim is an insert that returns the ids that were new; another
transaction inserting the same id (another lane or instance) waits on the row lock until the
first commits or rolls back, which is what makes 50 copies at once publish once.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

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
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

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

_CLAIM = text(
    f"INSERT INTO {SCHEMA}.webhook_deliveries (source, delivery_id) "
    "SELECT * FROM unnest(CAST(:sources AS text[]), CAST(:ids AS text[])) "
    "ON CONFLICT DO NOTHING RETURNING source, delivery_id"
)
_PRUNE = text(
    f"DELETE FROM {SCHEMA}.webhook_deliveries "
    "WHERE received_at < now() - make_interval(secs => :seconds)"
)


async def claim(conn: AsyncConnection, keys: Sequence[DeliveryKey]) -> set[DeliveryKey]:
    """Insert the keys inside the caller's transaction; the ones not seen before."""
    rows = await conn.execute(
        _CLAIM, {"sources": [k[0] for k in keys], "ids": [k[1] for k in keys]}
    )
    return {(r[0], r[1]) for r in rows}


async def prune(engine: AsyncEngine, older_than_seconds: float) -> int:
    """Forget delivery ids older than the retention; how many were deleted."""
    async with engine.begin() as conn:
        result = await conn.execute(_PRUNE, {"seconds": older_than_seconds})
    return int(result.rowcount or 0)


class DeliveryConnection:
    """One worker's own connection: a pool checkout per batch costs more than the batch."""

    def __init__(self, engine: AsyncEngine, lock_timeout_ms: int) -> None:
        self.engine, self.lock_timeout_ms = engine, lock_timeout_ms
        self.conn: AsyncConnection | None = None

    async def connection(self) -> AsyncConnection:
        if self.conn is None or self.conn.closed or self.conn.invalidated:
            conn = await self.engine.connect()
            try:
                # No fsync wait on commit: a claim lost in a crash only means a retry is published
                # again with the same CloudEvent ids, which the consumer's inbox drops. The lock
                # timeout bounds the wait for another instance's claim of the same id.
                await conn.execute(text("SET synchronous_commit = off"))
                await conn.execute(text(f"SET lock_timeout = {int(self.lock_timeout_ms)}"))
                await conn.commit()
            except BaseException:
                await conn.close()
                raise
            self.conn = conn
        return self.conn

    async def drop(self) -> None:
        conn, self.conn = self.conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close()
