"""Scoring: index the inbox by age, for pruning after its retention.

Revision ID: 0200_retention
Revises: 0100_webhook_deliveries
Create Date: 2026-12-01
"""

from handoff.migrations import create_inbox_age_index_v2, drop_inbox_age_index_v2

revision = "0200_retention"
down_revision = "0100_webhook_deliveries"
branch_labels = None
depends_on = None

SCHEMA = "scoring"


def upgrade() -> None:
    create_inbox_age_index_v2(SCHEMA)


def downgrade() -> None:
    drop_inbox_age_index_v2(SCHEMA)
