"""sla schema: durable timers, outbox and inbox.

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op

from handoff.migrations import create_messaging_tables_v1, drop_messaging_tables_v1

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

SCHEMA = "sla"


def upgrade() -> None:
    op.create_table(
        "timers",
        sa.Column("timer_id", sa.Text, primary_key=True),
        sa.Column("lead_id", sa.Text, nullable=False),
        sa.Column("handoff_id", sa.Text, nullable=False),
        sa.Column("rep_id", sa.Text),
        sa.Column("pool", sa.Text),
        sa.Column("policy", sa.Text, nullable=False),
        sa.Column("stage", sa.Text, nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True)),
        sa.Column("due_at", sa.DateTime(timezone=True)),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("fired_at", sa.DateTime(timezone=True)),
        sa.Column("stopped_at", sa.DateTime(timezone=True)),
        sa.Column("attempts", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("escalation_level", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.UniqueConstraint("handoff_id", "stage", name="timers_handoff_stage_key"),
        sa.CheckConstraint(
            "state IN ('pending', 'breached', 'met', 'cancelled')", name="timers_state_check"
        ),
        schema=SCHEMA,
    )
    op.create_index("timers_lead", "timers", ["lead_id"], schema=SCHEMA)
    op.create_index(
        "timers_pending_due",
        "timers",
        ["due_at"],
        schema=SCHEMA,
        postgresql_where=sa.text("state = 'pending'"),
    )
    op.create_index(
        "timers_breached_due",
        "timers",
        ["due_at"],
        schema=SCHEMA,
        postgresql_where=sa.text("state = 'breached'"),
    )
    create_messaging_tables_v1(SCHEMA)


def downgrade() -> None:
    drop_messaging_tables_v1(SCHEMA)
    op.drop_table("timers", schema=SCHEMA)
