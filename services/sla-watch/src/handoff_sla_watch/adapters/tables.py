"""Tables of the `sla` schema."""

from __future__ import annotations

from sqlalchemy import (
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
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
# Stopped for good (met or cancelled: every stop sets both); a breach stays open until stopped.
# Not on `state`, which firing changes: no index may read what firing writes (HOT update).
ENDED = "stopped_at IS NOT NULL"
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
    # No index reads a column firing writes (state, next_at, fired_at, attempts,
    # escalation_level), and inserts fill a page to 45% only, so the new version of every
    # row fits beside the old one: firing is a HOT update.
    # "What is overdue": unstopped timers by due time (the breached ones are the oldest).
    Index(
        "timers_open_due",
        "due_at",
        postgresql_where=text("stopped_at IS NULL AND due_at IS NOT NULL"),
    ),
    # Ended timers are deleted after HANDOFF_SLA_TIMER_RETENTION (messaging/retention.py).
    Index("timers_ended", "stopped_at", postgresql_where=text(ENDED)),
    postgresql_with={"fillfactor": 45},
)

# "What is due": one narrow row per timer with a step left to fire, claimed SKIP LOCKED and
# deleted when nothing is left (or moved to the next escalation step). `kind` is that step.
due = Table(
    "due",
    metadata,
    Column(
        "timer_id",
        Text,
        ForeignKey("sla.timers.timer_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("next_at", DateTime(timezone=True), nullable=False),
    Column("kind", Text, nullable=False),
    CheckConstraint("kind IN ('warning', 'breach', 'escalation')", name="due_kind_check"),
    Index("due_next_at", "next_at"),
)

outbox = outbox_table(metadata)
inbox = inbox_table(metadata)
