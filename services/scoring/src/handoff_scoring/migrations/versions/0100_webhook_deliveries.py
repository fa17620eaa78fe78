"""Webhook deliveries seen, for dedupe by (source, delivery id).

Revision ID: 0100_webhook_deliveries
Revises: 0002
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op

revision = "0100_webhook_deliveries"
down_revision = "0002"
branch_labels = None
depends_on = None

SCHEMA = "scoring"


def upgrade() -> None:
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
    # Pruning by age scans this instead of the whole table.
    op.create_index(
        "webhook_deliveries_received_at", "webhook_deliveries", ["received_at"], schema=SCHEMA
    )


def downgrade() -> None:
    op.drop_table("webhook_deliveries", schema=SCHEMA)
