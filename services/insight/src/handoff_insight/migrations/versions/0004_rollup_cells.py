"""insight.rollup: one row per (dimension, day, group value) with its counters in one jsonb.

As with the cube (0003): a batch of 500 MQLs added to about 3,300 per-counter rollup rows;
per group and day it is about 200. Rows merge with insight.add_counters (0003). Existing
counters are folded into the new layout.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

SCHEMA = "insight"


def upgrade() -> None:
    op.create_table(
        "rollup_cells",
        sa.Column("dim", sa.Text, nullable=False),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("counters", JSONB, nullable=False),
        sa.PrimaryKeyConstraint("dim", "day", "value", name="rollup_cells_pkey"),
        schema=SCHEMA,
    )
    op.execute(
        f"INSERT INTO {SCHEMA}.rollup_cells (dim, day, value, counters) "
        f"SELECT dim, day, value, jsonb_object_agg(counter, n) FROM {SCHEMA}.rollup "
        "WHERE n <> 0 GROUP BY dim, day, value"
    )
    op.drop_table("rollup", schema=SCHEMA)
    op.rename_table("rollup_cells", "rollup", schema=SCHEMA)
    op.execute(f"ALTER INDEX {SCHEMA}.rollup_cells_pkey RENAME TO rollup_pkey")


def downgrade() -> None:
    op.create_table(
        "rollup_counters",
        sa.Column("dim", sa.Text, nullable=False),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("counter", sa.Text, nullable=False),
        sa.Column("n", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("dim", "day", "value", "counter", name="rollup_counters_pkey"),
        schema=SCHEMA,
    )
    op.execute(
        f"INSERT INTO {SCHEMA}.rollup_counters (dim, day, value, counter, n) "
        "SELECT r.dim, r.day, r.value, c.counter, CAST(c.n AS bigint) "
        f"FROM {SCHEMA}.rollup AS r, jsonb_each_text(r.counters) AS c(counter, n)"
    )
    op.drop_table("rollup", schema=SCHEMA)
    op.rename_table("rollup_counters", "rollup", schema=SCHEMA)
    op.execute(f"ALTER INDEX {SCHEMA}.rollup_counters_pkey RENAME TO rollup_pkey")
