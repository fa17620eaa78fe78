"""Scoring schema: lead scores, outbox and inbox.

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

SCHEMA = "scoring"


def upgrade() -> None:
    op.create_table(
        "leads",
        sa.Column("lead_id", sa.Text, primary_key=True),
        sa.Column("score", sa.Integer, nullable=False),
        sa.Column("tallies", JSONB, nullable=False),
        sa.Column("traits", JSONB, nullable=False),
        sa.Column("cycle", sa.Integer, nullable=False),
        sa.Column("qualified_at", sa.DateTime(timezone=True)),
        sa.Column("mql_id", sa.Text),
        sa.Column("model_version", sa.Text),
        sa.Column("updated_at", sa.DateTime(timezone=True)),
        schema=SCHEMA,
    )
    create_messaging_tables_v1(SCHEMA)


def downgrade() -> None:
    drop_messaging_tables_v1(SCHEMA)
    op.drop_table("leads", schema=SCHEMA)
