"""The inbox: ids of the events a service has applied, so a replayed event has effect once."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Column, DateTime, Index, MetaData, PrimaryKeyConstraint, Table, Text, text
from sqlalchemy.ext.asyncio import AsyncConnection


def inbox_table(metadata: MetaData) -> Table:
    # CloudEvents makes (source, id) unique, so two MA tools may both send "evt-1".
    return Table(
        "inbox",
        metadata,
        Column("source", Text, nullable=False),
        Column("event_id", Text, nullable=False),
        Column(
            "processed_at", DateTime(timezone=True), nullable=False, server_default=text("now()")
        ),
        PrimaryKeyConstraint("source", "event_id"),
        # Pruning by age (messaging/retention.py) walks this, not the whole table.
        Index("inbox_processed_at", "processed_at"),
    )


async def claim(
    conn: AsyncConnection, schema: str, keys: Sequence[tuple[str, str]]
) -> set[tuple[str, str]]:
    """Record (source, id) pairs in the caller's transaction; return those not seen before."""
    if not keys:
        return set()
    result = await conn.execute(
        text(
            f"INSERT INTO {schema}.inbox (source, event_id) "
            "SELECT * FROM unnest(CAST(:sources AS text[]), CAST(:ids AS text[])) "
            "ON CONFLICT DO NOTHING RETURNING source, event_id"
        ),
        {"sources": [k[0] for k in keys], "ids": [k[1] for k in keys]},
    )
    return {(r[0], r[1]) for r in result}
