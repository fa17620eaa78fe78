"""Routing schema: handoffs, round-robin pool pointers, outbox and inbox.

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from handoff.migrations import create_messaging_tables_v1, drop_messaging_tables_v1

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

SCHEMA = "routing"


def upgrade() -> None:
    op.create_table(
        "handoffs",
        sa.Column("handoff_id", sa.Text, primary_key=True),
        sa.Column("lead_id", sa.Text, nullable=False),
        sa.Column("mql_id", sa.Text, nullable=False, unique=True),
        sa.Column("rep_id", sa.Text),
        sa.Column("pool", sa.Text),
        sa.Column("rule", sa.Text, nullable=False),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("decision", JSONB, nullable=False),
        sa.Column("reason_code", sa.Text),
        sa.Column("note", sa.Text),
        sa.Column("assigned_at", sa.DateTime(timezone=True)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        schema=SCHEMA,
    )
    op.create_index("handoffs_lead_id", "handoffs", ["lead_id", "created_at"], schema=SCHEMA)
    op.create_table(
        "pool_pointers",
        sa.Column("pool", sa.Text, primary_key=True),
        sa.Column("position", sa.Integer, nullable=False),
        schema=SCHEMA,
    )
    create_messaging_tables_v1(SCHEMA)


def downgrade() -> None:
    drop_messaging_tables_v1(SCHEMA)
    op.drop_table("pool_pointers", schema=SCHEMA)
    op.drop_index("handoffs_lead_id", "handoffs", schema=SCHEMA)
    op.drop_table("handoffs", schema=SCHEMA)
