"""sla timers: the next step to fire (warning, breach, escalation) and the assignment they act on.

`next_at` replaces "pending and due" as what the firer claims; its partial index holds
only timers with something left to fire, so "what is due" stays one index probe however
many ended timers the table keeps.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

SCHEMA = "sla"
ADDED = ("mql_trigger", "fit_grade", "team", "manager_id")


def upgrade() -> None:
    op.add_column("timers", sa.Column("next_at", sa.DateTime(timezone=True)), schema=SCHEMA)
    for name in ADDED:
        op.add_column("timers", sa.Column(name, sa.Text), schema=SCHEMA)
    op.execute(
        "UPDATE sla.timers SET next_at = due_at WHERE state = 'pending' AND due_at IS NOT NULL"
    )
    op.create_index(
        "timers_next_at",
        "timers",
        ["next_at"],
        schema=SCHEMA,
        postgresql_where=sa.text("next_at IS NOT NULL"),
    )
    op.drop_index("timers_pending_due", table_name="timers", schema=SCHEMA)


def downgrade() -> None:
    op.create_index(
        "timers_pending_due",
        "timers",
        ["due_at"],
        schema=SCHEMA,
        postgresql_where=sa.text("state = 'pending'"),
    )
    op.drop_index("timers_next_at", table_name="timers", schema=SCHEMA)
    for name in (*ADDED, "next_at"):
        op.drop_column("timers", name, schema=SCHEMA)
