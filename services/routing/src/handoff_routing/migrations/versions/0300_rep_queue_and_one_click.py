"""Routing: what a rep's queue shows (the MQL reason, SLA due times) and used one-click links.

Revision ID: 0300_rep_queue_and_one_click
Revises: 0200_retention
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0300_rep_queue_and_one_click"
down_revision = "0200_retention"
branch_labels = None
depends_on = None

SCHEMA = "routing"


def upgrade() -> None:
    op.create_table(
        "mql_notes",
        sa.Column("mql_id", sa.Text, primary_key=True),
        sa.Column("reason", sa.Text),
        sa.Column("lead_name", sa.Text),
        sa.Column("company_name", sa.Text),
        schema=SCHEMA,
    )
    op.create_table(
        "handoff_due",
        sa.Column("handoff_id", sa.Text, primary_key=True),
        sa.Column("stage", sa.Text, primary_key=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("breached_at", sa.DateTime(timezone=True)),
        sa.Column("met_at", sa.DateTime(timezone=True)),
        schema=SCHEMA,
    )
    op.create_table(
        "one_click_uses",
        sa.Column("digest", sa.Text, primary_key=True),
        sa.Column("handoff_id", sa.Text, nullable=False),
        sa.Column("rep_id", sa.Text, nullable=False),
        sa.Column("action", sa.Text, nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=False),
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_table("one_click_uses", schema=SCHEMA)
    op.drop_table("handoff_due", schema=SCHEMA)
    op.drop_table("mql_notes", schema=SCHEMA)
