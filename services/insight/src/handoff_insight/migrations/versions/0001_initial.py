"""insight schema: funnel rows, handoff links, parked facts, the daily rollup, alerts, outbox, inbox.

Revision ID: 0001
Revises:
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from handoff.migrations import create_messaging_tables_v1, drop_messaging_tables_v1

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

SCHEMA = "insight"
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "funnel",
        sa.Column("mql_id", sa.Text, primary_key=True),
        sa.Column("lead_id", sa.Text),
        sa.Column("cycle", sa.Integer),
        sa.Column("qualified_at", TS),
        sa.Column("score", sa.Integer),
        sa.Column("fit_grade", sa.Text),
        sa.Column("trigger_kind", sa.Text),
        sa.Column("trigger_rule", sa.Text),
        sa.Column("rules", sa.ARRAY(sa.Text), nullable=False),
        sa.Column("source", sa.Text),
        sa.Column("campaign", sa.Text),
        sa.Column("handoff_id", sa.Text),
        sa.Column("pool", sa.Text),
        sa.Column("rep_id", sa.Text),
        sa.Column("team", sa.Text),
        sa.Column("assigned_at", TS),
        sa.Column("last_assigned_at", TS),
        sa.Column("accepted_at", TS),
        sa.Column("rejected_at", TS),
        sa.Column("reason_code", sa.Text),
        sa.Column("contacted_at", TS),
        sa.Column("disposition", sa.Text),
        sa.Column("dispositioned_at", TS),
        sa.Column("recycled_at", TS),
        sa.Column("sla", JSONB, nullable=False),
        sa.Column("escalations", sa.Integer, nullable=False),
        sa.Column("escalation_level", sa.Integer, nullable=False),
        schema=SCHEMA,
    )
    op.create_index("funnel_qualified_at", "funnel", ["qualified_at"], schema=SCHEMA)
    op.create_table(
        "handoffs",
        sa.Column("handoff_id", sa.Text, primary_key=True),
        sa.Column("mql_id", sa.Text, nullable=False),
        schema=SCHEMA,
    )
    op.create_table(
        "parked",
        sa.Column("id", sa.BigInteger, sa.Identity(always=False), primary_key=True),
        sa.Column("handoff_id", sa.Text, nullable=False),
        sa.Column("fact", JSONB, nullable=False),
        schema=SCHEMA,
    )
    op.create_index("parked_handoff", "parked", ["handoff_id"], schema=SCHEMA)
    op.create_table(
        "rollup",
        sa.Column("dim", sa.Text, nullable=False),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("counter", sa.Text, nullable=False),
        sa.Column("n", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("dim", "day", "value", "counter"),
        schema=SCHEMA,
    )
    op.create_table(
        "alerts",
        sa.Column("band", sa.Text, nullable=False),
        sa.Column("group_by", sa.Text, nullable=False),
        sa.Column("grp", sa.Text, nullable=False),
        sa.Column("raised", sa.Boolean, nullable=False),
        sa.Column("metric", sa.Text, nullable=False),
        sa.Column("value", sa.Float, nullable=False),
        sa.Column("samples", sa.Integer, nullable=False),
        sa.Column("changed_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("band", "group_by", "grp"),
        schema=SCHEMA,
    )
    create_messaging_tables_v1(SCHEMA)


def downgrade() -> None:
    drop_messaging_tables_v1(SCHEMA)
    for table in ("alerts", "rollup", "parked", "handoffs", "funnel"):
        op.drop_table(table, schema=SCHEMA)
