"""insight.cube: the funnel's counters keyed by every group value at once, for filtered answers.

A database that already holds funnel rows (created at 0001) needs `handoff insight rebuild`
once after this upgrade: the cube starts empty and fills only as rows change.

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

SCHEMA = "insight"
DIMENSIONS = ("source", "campaign", "pool", "rep", "trigger", "fit_grade", "team")


def upgrade() -> None:
    op.create_table(
        "cube",
        sa.Column("day", sa.Date, nullable=False),
        *(sa.Column(d, sa.Text, nullable=False) for d in DIMENSIONS),
        sa.Column("counter", sa.Text, nullable=False),
        sa.Column("n", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("day", *DIMENSIONS, "counter"),
        schema=SCHEMA,
    )
    # A filter narrows to one value of one of these; the day range follows.
    for d in ("source", "campaign", "pool", "rep"):
        op.create_index(f"cube_{d}", "cube", [d, "day"], schema=SCHEMA)


def downgrade() -> None:
    op.drop_table("cube", schema=SCHEMA)
