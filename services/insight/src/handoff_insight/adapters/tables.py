"""Tables of the `insight` schema: funnel rows, the daily rollup, parked facts, alert state."""

from __future__ import annotations

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    Identity,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
)
from sqlalchemy.dialects.postgresql import JSONB

from handoff.messaging.inbox import inbox_table
from handoff.messaging.outbox import outbox_table

SCHEMA = "insight"
metadata = MetaData(schema=SCHEMA)

funnel = Table(
    "funnel",
    metadata,
    Column("mql_id", Text, primary_key=True),
    Column("lead_id", Text),
    Column("cycle", Integer),
    Column("qualified_at", DateTime(timezone=True)),
    Column("score", Integer),
    Column("fit_grade", Text),
    Column("trigger_kind", Text),
    Column("trigger_rule", Text),
    Column("rules", ARRAY(Text), nullable=False),
    Column("source", Text),
    Column("campaign", Text),
    Column("handoff_id", Text),
    Column("pool", Text),
    Column("rep_id", Text),
    Column("team", Text),
    Column("assigned_at", DateTime(timezone=True)),
    Column("last_assigned_at", DateTime(timezone=True)),
    Column("accepted_at", DateTime(timezone=True)),
    Column("rejected_at", DateTime(timezone=True)),
    Column("reason_code", Text),
    Column("contacted_at", DateTime(timezone=True)),
    Column("disposition", Text),
    Column("dispositioned_at", DateTime(timezone=True)),
    Column("recycled_at", DateTime(timezone=True)),
    Column(
        "sla", JSONB, nullable=False
    ),  # {"met": {stage: [wall, business, at]}, "breached": [..]}
    Column("escalations", Integer, nullable=False),
    Column("escalation_level", Integer, nullable=False),
    Index("funnel_qualified_at", "qualified_at"),
)

# Which MQL a handoff belongs to (from handoff.lead.assigned): routing and SLA facts name
# only the handoff.
handoffs = Table(
    "handoffs",
    metadata,
    Column("handoff_id", Text, primary_key=True),
    Column("mql_id", Text, nullable=False),
)

# Facts about a handoff whose assignment has not arrived yet; applied when it does.
parked = Table(
    "parked",
    metadata,
    Column("id", BigInteger, Identity(always=False), primary_key=True),
    Column("handoff_id", Text, nullable=False),
    Column("fact", JSONB, nullable=False),
    Index("parked_handoff", "handoff_id"),
)

rollup = Table(
    "rollup",
    metadata,
    Column("dim", Text, nullable=False),
    Column("day", Date, nullable=False),
    Column("value", Text, nullable=False),
    Column("counters", JSONB, nullable=False),  # {"counter": n}, merged by insight.add_counters
    PrimaryKeyConstraint("dim", "day", "value"),
)

# Every row's counters under all its group values at once (the filtered funnel sums this):
# one row per day and cell, its counters as {"counter": n} (merged by insight.add_counters).
cube = Table(
    "cube",
    metadata,
    Column("day", Date, nullable=False),
    Column("source", Text, nullable=False),
    Column("campaign", Text, nullable=False),
    Column("pool", Text, nullable=False),
    Column("rep", Text, nullable=False),
    Column("trigger", Text, nullable=False),
    Column("fit_grade", Text, nullable=False),
    Column("team", Text, nullable=False),
    Column("counters", JSONB, nullable=False),
    PrimaryKeyConstraint(
        "day", "source", "campaign", "pool", "rep", "trigger", "fit_grade", "team"
    ),
    Index("cube_source", "source", "day"),
    Index("cube_campaign", "campaign", "day"),
    Index("cube_pool", "pool", "day"),
    Index("cube_rep", "rep", "day"),
)

alerts = Table(
    "alerts",
    metadata,
    Column("band", Text, nullable=False),
    Column("group_by", Text, nullable=False),
    Column("grp", Text, nullable=False),
    Column("raised", Boolean, nullable=False),
    Column("metric", Text, nullable=False),
    Column("value", Float, nullable=False),
    Column("samples", Integer, nullable=False),
    Column("changed_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("band", "group_by", "grp"),
)

outbox = outbox_table(metadata)
inbox = inbox_table(metadata)
