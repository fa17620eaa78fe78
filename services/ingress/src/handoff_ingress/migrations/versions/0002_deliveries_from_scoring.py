"""Copy the delivery ids scoring remembered before the webhooks moved here (issue 11).

Without them, a provider retrying a delivery scoring had already taken would have it published
again. Runs only where scoring.webhook_deliveries still exists: `handoff migrate` migrates
ingress before scoring, so the copy is made before scoring's migration drops that table.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

SCHEMA = "ingress"


def upgrade() -> None:
    found = op.get_bind().execute(sa.text("SELECT to_regclass('scoring.webhook_deliveries')"))
    if found.scalar() is None:
        return
    op.execute(
        f"INSERT INTO {SCHEMA}.webhook_deliveries (source, delivery_id, received_at) "
        "SELECT source, delivery_id, received_at FROM scoring.webhook_deliveries "
        "ON CONFLICT DO NOTHING"
    )


def downgrade() -> None:
    pass  # the copied ids age out with the rest; scoring's table is not brought back here
