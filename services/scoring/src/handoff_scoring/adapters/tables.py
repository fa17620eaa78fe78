"""Tables of the `scoring` schema."""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Integer, MetaData, Table, Text
from sqlalchemy.dialects.postgresql import JSONB

from handoff.messaging.inbox import inbox_table
from handoff.messaging.outbox import outbox_table

SCHEMA = "scoring"
metadata = MetaData(schema=SCHEMA)

leads = Table(
    "leads",
    metadata,
    Column("lead_id", Text, primary_key=True),
    Column("score", Integer, nullable=False),
    Column("tallies", JSONB, nullable=False),
    Column("traits", JSONB, nullable=False),
    Column("cycle", Integer, nullable=False),
    Column("qualified_at", DateTime(timezone=True)),
    Column("mql_id", Text),
    Column("model_version", Text),
    Column("updated_at", DateTime(timezone=True)),
)

outbox = outbox_table(metadata)
inbox = inbox_table(metadata)
