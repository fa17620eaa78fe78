"""Scoring: webhook deliveries moved to the ingress service (schema `ingress`).

The ingress service copies this table's rows in its own first migration, and `handoff migrate`
migrates ingress before scoring, so the dedupe memory survives the move.

Revision ID: 0300_drop_webhook_deliveries
Revises: 0200_retention
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0300_drop_webhook_deliveries"
down_revision = "0200_retention"
branch_labels = None
depends_on = None

SCHEMA = "scoring"


def upgrade() -> None:
    op.drop_table("webhook_deliveries", schema=SCHEMA)


def downgrade() -> None:
    # The table as 0100 made it, empty: its rows live in ingress.webhook_deliveries now.
    op.create_table(
        "webhook_deliveries",
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("delivery_id", sa.Text, nullable=False),
        sa.Column(
            "received_at",
            sa.DateTime(timezone=True),
            nullable=False,
            server_default=sa.text("now()"),
        ),
        sa.PrimaryKeyConstraint("source", "delivery_id"),
        schema=SCHEMA,
    )
    op.create_index(
        "webhook_deliveries_received_at", "webhook_deliveries", ["received_at"], schema=SCHEMA
    )
