"""Tables of the `scoring` schema."""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Integer, LargeBinary, MetaData, Table, Text

from handoff.messaging.inbox import inbox_table
from handoff.messaging.outbox import outbox_table

SCHEMA = "scoring"
metadata = MetaData(schema=SCHEMA)

# One row per lead. `state` holds the activity history, traits and cycle (see lead_state.py);
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

outbox = outbox_table(metadata)
inbox = inbox_table(metadata)
