"""Tables of the `routing` schema (migrations/versions holds how they came to be)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Identity,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

from handoff.messaging.inbox import inbox_table
from handoff.messaging.outbox import outbox_table

SCHEMA = "routing"
metadata = MetaData(schema=SCHEMA)

# One row per handoff: an MQL handed to one rep. A reassignment adds a row (attempt + 1).
# handoff_id is derived from (mql_id, attempt), so the primary key keeps those unique too.
handoffs = Table(
    "handoffs",
    metadata,
    Column("handoff_id", Text, primary_key=True),
    Column("lead_id", Text, nullable=False),
    Column("mql_id", Text, nullable=False),
    Column("attempt", Integer, nullable=False, server_default=text("1")),
    Column("seq", BigInteger, Identity(always=False), nullable=False),  # arrival order
    Column("rep_id", Text),
    Column("pool", Text),
    Column("rule", Text, nullable=False),
    Column("state", Text, nullable=False),
    Column("decision", JSONB, nullable=False),
    Column("reason_code", Text),
    Column("note", Text),
    Column("follow_up", Text),
    Column("outcome", Text),
    Column("recycle_until", DateTime(timezone=True)),
    Column("channel", Text),
    Column("excluded", ARRAY(Text), nullable=False, server_default=text("'{}'")),
    Column("facts", JSONB, nullable=False, server_default=text("'{}'")),
    Column("trigger", Text),
    Column("fit_grade", Text),
    Column("next_handoff_id", Text),
    Column("assigned_at", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("handoffs_lead_id", "lead_id", "created_at"),
    Index("handoffs_rep_assigned", "rep_id", "assigned_at"),
    Index("handoffs_open", "rep_id", postgresql_where=text("state = 'assigned'")),
    Index("handoffs_queued", "seq", postgresql_where=text("state = 'unassigned'")),
)

# The round-robin position of each pool, locked once per batch so instances take turns.
pool_pointers = Table(
    "pool_pointers",
    metadata,
    Column("pool", Text, primary_key=True),
    Column("position", Integer, nullable=False),
)

# Reps, pools and accounts as JSON documents (handoff_routing.specs); `managed_by` says
# whether routing.yaml or the admin API last wrote the entry.
roster = Table(
    "roster",
    metadata,
    Column("kind", Text, primary_key=True),
    Column("key", Text, primary_key=True),
    Column("doc", JSONB, nullable=False),
    Column("managed_by", Text, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
)

# Bumped with every roster change, so each instance reloads its cached roster once.
roster_version = Table(
    "roster_version",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("version", BigInteger, nullable=False),
)

outbox = outbox_table(metadata)
inbox = inbox_table(metadata)

# A rep's queue (GET /v1/reps/{rep_id}/handoffs): the MQL's reason sentence and the lead's
# name, and the SLA due times sla-watch announces; filled by adapters/rep_queue.py.
mql_notes = Table(
    "mql_notes",
    metadata,
    Column("mql_id", Text, primary_key=True),
    Column("reason", Text),
    Column("lead_name", Text),
    Column("company_name", Text),
)
handoff_due = Table(
    "handoff_due",
    metadata,
    Column("handoff_id", Text, primary_key=True),
    Column("stage", Text, primary_key=True),
    Column("due_at", DateTime(timezone=True), nullable=False),
    Column("breached_at", DateTime(timezone=True)),
    Column("met_at", DateTime(timezone=True)),
)
# One-click links are single use: the digest of every token used.
one_click_uses = Table(
    "one_click_uses",
    metadata,
    Column("digest", Text, primary_key=True),
    Column("handoff_id", Text, nullable=False),
    Column("rep_id", Text, nullable=False),
    Column("action", Text, nullable=False),
    Column("used_at", DateTime(timezone=True), nullable=False),
)
