"""Tables of the `sla` schema."""

from __future__ import annotations

from sqlalchemy import (
    CheckConstraint,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from handoff.messaging.inbox import inbox_table
from handoff.messaging.outbox import outbox_table

SCHEMA = "sla"
ENDED = "state IN ('met', 'cancelled')"  # stopped for good; a breach stays open until stopped
metadata = MetaData(schema=SCHEMA)

timers = Table(
    "timers",
    metadata,
    Column("timer_id", Text, primary_key=True),
    Column("lead_id", Text, nullable=False),
    Column("handoff_id", Text, nullable=False),
    Column("rep_id", Text),
    Column("pool", Text),
    Column("policy", Text, nullable=False),
    Column("stage", Text, nullable=False),
    Column("started_at", DateTime(timezone=True)),  # NULL for a tombstone
    Column("due_at", DateTime(timezone=True)),  # NULL for a tombstone
    Column("state", Text, nullable=False),
    Column("fired_at", DateTime(timezone=True)),
    Column("stopped_at", DateTime(timezone=True)),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("escalation_level", Integer, nullable=False, server_default=text("0")),
    # When the firer must next look at the timer: warning point, due time or next escalation.
    Column("next_at", DateTime(timezone=True)),
    Column("mql_trigger", Text),
    Column("fit_grade", Text),
    Column("team", Text),
    Column("manager_id", Text),
    UniqueConstraint("handoff_id", "stage", name="timers_handoff_stage_key"),
    CheckConstraint(
        "state IN ('pending', 'breached', 'met', 'cancelled')", name="timers_state_check"
    ),
    Index("timers_lead", "lead_id"),
    # "What is due" and "what is overdue" read only these small slices of a large table.
    Index("timers_next_at", "next_at", postgresql_where=text("next_at IS NOT NULL")),
    Index("timers_breached_due", "due_at", postgresql_where=text("state = 'breached'")),
    # Ended timers are deleted after HANDOFF_SLA_TIMER_RETENTION (messaging/retention.py).
    Index("timers_ended", "stopped_at", postgresql_where=text(ENDED)),
)

outbox = outbox_table(metadata)
inbox = inbox_table(metadata)
