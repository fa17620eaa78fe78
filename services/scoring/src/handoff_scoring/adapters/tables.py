"""Tables of the `scoring` schema."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Float,
    Identity,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    Text,
)
from sqlalchemy.dialects.postgresql import JSONB

from handoff.messaging.inbox import inbox_table
from handoff.messaging.outbox import outbox_table

SCHEMA = "scoring"
metadata = MetaData(schema=SCHEMA)

# One row per lead. `state` holds the running state: traits, cycle, tally (see lead_state.py);
# the other columns repeat what operators query, as of the lead's latest activity.
leads = Table(
    "leads",
    metadata,
    Column("lead_id", Text, primary_key=True),
    Column("state", LargeBinary, nullable=False),
    Column("score", Integer, nullable=False),
    Column("fit_grade", Text, nullable=False),
    Column("cycle", Integer, nullable=False),
    Column("mql_id", Text),
    Column("disqualified", Text),
    Column("model_version", Text, nullable=False),
    Column("updated_at", DateTime(timezone=True)),
)

# Every lead's activities, appended as they come and read only when a lead's whole history is
# needed (a late event, an alias, a new model, an explanation, rescore). occurred_at is the
# domain's epoch seconds, kept exactly as scored; seq keeps the order of equal times. No
# primary key: nothing looks a row up alone, and each index costs every append.
activities = Table(
    "activities",
    metadata,
    Column("seq", BigInteger, Identity(always=True), nullable=False),
    Column("lead_id", Text, nullable=False),
    Column("occurred_at", Float(53), nullable=False),
    Column("activity_type", Text, nullable=False),
    Column("properties", JSONB),
    Index("activities_lead", "lead_id", "occurred_at"),
)

outbox = outbox_table(metadata)
inbox = inbox_table(metadata)
