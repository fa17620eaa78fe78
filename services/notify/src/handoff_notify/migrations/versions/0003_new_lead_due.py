"""notify: the accept stage's due time of a handoff, and deliveries held for it.

`handoffs.accept_due_at` comes from handoff.sla.started (accept stage), for the new-lead
notice. `deliveries.held_until` marks a new-lead notice queued without a due time, waiting
out the grace for its SLA start; while `next_at = held_until` no worker has claimed it, so
the start may still replace its body (a claim moves next_at past held_until).

Revision ID: 0003_new_lead_due
Revises: 0002_erasure
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_new_lead_due"
down_revision = "0002_erasure"
branch_labels = None
depends_on = None

SCHEMA = "notify"


def upgrade() -> None:
    op.add_column("handoffs", sa.Column("accept_due_at", sa.DateTime(timezone=True)), schema=SCHEMA)
    op.add_column("deliveries", sa.Column("held_until", sa.DateTime(timezone=True)), schema=SCHEMA)


def downgrade() -> None:
    op.drop_column("deliveries", "held_until", schema=SCHEMA)
    op.drop_column("handoffs", "accept_due_at", schema=SCHEMA)
