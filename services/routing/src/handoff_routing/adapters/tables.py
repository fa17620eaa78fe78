"""Tables of the `routing` schema."""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Index, Integer, MetaData, Table, Text
from sqlalchemy.dialects.postgresql import JSONB

from handoff.messaging.inbox import inbox_table
from handoff.messaging.outbox import outbox_table

SCHEMA = "routing"
metadata = MetaData(schema=SCHEMA)

handoffs = Table(
    "handoffs",
    metadata,
    Column("handoff_id", Text, primary_key=True),
    Column("lead_id", Text, nullable=False),
    Column("mql_id", Text, nullable=False, unique=True),
    Column("rep_id", Text),
    Column("pool", Text),
    Column("rule", Text, nullable=False),
    Column("state", Text, nullable=False),
    Column("decision", JSONB, nullable=False),
    Column("reason_code", Text),
    Column("note", Text),
    Column("assigned_at", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("handoffs_lead_id", "lead_id", "created_at"),
)

# The round-robin position of each pool, locked once per batch so two instances never hand
# consecutive leads to the same rep.
pool_pointers = Table(
    "pool_pointers",
    metadata,
    Column("pool", Text, primary_key=True),
    Column("position", Integer, nullable=False),
)

outbox = outbox_table(metadata)
inbox = inbox_table(metadata)
