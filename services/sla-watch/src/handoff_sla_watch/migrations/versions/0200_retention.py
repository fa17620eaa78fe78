"""sla: index the inbox by age and the ended timers by their stop, for pruning after retention.

Revision ID: 0200_retention
Revises: 0002
Create Date: 2026-12-01
"""

from alembic import op

from handoff.migrations import create_inbox_age_index_v2, drop_inbox_age_index_v2

revision = "0200_retention"
down_revision = "0002"
branch_labels = None
depends_on = None

SCHEMA = "sla"


def upgrade() -> None:
    create_inbox_age_index_v2(SCHEMA)
    # Ended timers are deleted after their retention; this finds them without a scan.
    op.execute(
        "CREATE INDEX IF NOT EXISTS timers_ended ON sla.timers (stopped_at) "
        "WHERE state IN ('met', 'cancelled')"
    )


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS sla.timers_ended")
    drop_inbox_age_index_v2(SCHEMA)
