"""ingress schema: webhook deliveries seen, for dedupe by (source, delivery id); the outbox.

The outbox stays empty (signals are published before the answer, not relayed), but every
service's runtime relays one, so it is created with the same frozen DDL as the others.

Revision ID: 0001
Revises:
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

from handoff.migrations import create_messaging_tables_v1, drop_messaging_tables_v1

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

SCHEMA = "ingress"


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
    create_messaging_tables_v1(SCHEMA)


def downgrade() -> None:
    drop_messaging_tables_v1(SCHEMA)
    op.drop_table("webhook_deliveries", schema=SCHEMA)
