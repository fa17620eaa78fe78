"""Routing: drop the unique (mql_id, attempt) constraint, which the primary key already implies.

A handoff's id is derived from its MQL and attempt (handoff_id_for), so the primary key
refuses a second handoff for the same (mql_id, attempt); the extra index only cost time on
every insert (bench/routing.py).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

SCHEMA = "routing"


def upgrade() -> None:
    op.drop_constraint("handoffs_mql_attempt", "handoffs", schema=SCHEMA, type_="unique")


def downgrade() -> None:
    op.create_unique_constraint(
        "handoffs_mql_attempt", "handoffs", ["mql_id", "attempt"], schema=SCHEMA
    )
