"""notify: erasing a lead (handoff.lead.erased): a delivery can be `cancelled`, and remembers
when its lead was erased (its body is gone or stripped, so it is never sent again by hand).

Revision ID: 0002_erasure
Revises: 0001
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_erasure"
down_revision = "0001"
branch_labels = None
depends_on = None

SCHEMA = "notify"


def upgrade() -> None:
    op.add_column("deliveries", sa.Column("erased_at", sa.DateTime(timezone=True)), schema=SCHEMA)
    op.drop_constraint("deliveries_status_check", "deliveries", schema=SCHEMA)
    op.create_check_constraint(
        "deliveries_status_check",
        "deliveries",
        "status IN ('pending', 'succeeded', 'failed', 'cancelled')",
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.execute(f"UPDATE {SCHEMA}.deliveries SET status = 'failed' WHERE status = 'cancelled'")
    op.drop_constraint("deliveries_status_check", "deliveries", schema=SCHEMA)
    op.create_check_constraint(
        "deliveries_status_check",
        "deliveries",
        "status IN ('pending', 'succeeded', 'failed')",
        schema=SCHEMA,
    )
    op.drop_column("deliveries", "erased_at", schema=SCHEMA)
