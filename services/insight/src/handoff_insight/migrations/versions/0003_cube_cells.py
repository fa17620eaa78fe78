"""insight.cube: one row per (day, cell) with its counters in one jsonb, not one row per counter.

A new MQL row has about seven counters, so the per-counter layout inserted or updated about
3,500 cube rows (each with five index entries) for a batch of 500 MQLs: the consumer's largest
cost. A cell row holds {"counter": n, ...}; adding a batch merges with add_counters (counters
summed, zeros dropped). Existing cells are folded into the new layout.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

SCHEMA = "insight"
DIMENSIONS = ("source", "campaign", "pool", "rep", "trigger", "fit_grade", "team")
INDEXED = ("source", "campaign", "pool", "rep")
COLUMNS = ", ".join(DIMENSIONS)

ADD_COUNTERS = f"""
CREATE FUNCTION {SCHEMA}.add_counters(a jsonb, b jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT COALESCE(jsonb_object_agg(key, total), '{{}}'::jsonb)
  FROM (
    SELECT key, sum(CAST(value AS bigint)) AS total
    FROM (SELECT * FROM jsonb_each_text(a) UNION ALL SELECT * FROM jsonb_each_text(b)) AS both_
    GROUP BY key
    HAVING sum(CAST(value AS bigint)) <> 0
  ) AS summed
$$
"""


def upgrade() -> None:
    op.execute(ADD_COUNTERS)
    op.create_table(
        "cube_cells",
        sa.Column("day", sa.Date, nullable=False),
        *(sa.Column(d, sa.Text, nullable=False) for d in DIMENSIONS),
        sa.Column("counters", JSONB, nullable=False),
        sa.PrimaryKeyConstraint("day", *DIMENSIONS, name="cube_cells_pkey"),
        schema=SCHEMA,
    )
    op.execute(
        f"INSERT INTO {SCHEMA}.cube_cells (day, {COLUMNS}, counters) "
        f"SELECT day, {COLUMNS}, jsonb_object_agg(counter, n) FROM {SCHEMA}.cube "
        f"WHERE n <> 0 GROUP BY day, {COLUMNS}"
    )
    op.drop_table("cube", schema=SCHEMA)
    op.rename_table("cube_cells", "cube", schema=SCHEMA)
    op.execute(f"ALTER INDEX {SCHEMA}.cube_cells_pkey RENAME TO cube_pkey")
    # A filter narrows to one value of one of these; the day range follows.
    for d in INDEXED:
        op.create_index(f"cube_{d}", "cube", [d, "day"], schema=SCHEMA)


def downgrade() -> None:
    op.create_table(
        "cube_counters",
        sa.Column("day", sa.Date, nullable=False),
        *(sa.Column(d, sa.Text, nullable=False) for d in DIMENSIONS),
        sa.Column("counter", sa.Text, nullable=False),
        sa.Column("n", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("day", *DIMENSIONS, "counter", name="cube_counters_pkey"),
        schema=SCHEMA,
    )
    op.execute(
        f"INSERT INTO {SCHEMA}.cube_counters (day, {COLUMNS}, counter, n) "
        f"SELECT day, {COLUMNS}, c.counter, CAST(c.n AS bigint) "
        f"FROM {SCHEMA}.cube, jsonb_each_text(counters) AS c(counter, n)"
    )
    op.drop_table("cube", schema=SCHEMA)
    op.rename_table("cube_counters", "cube", schema=SCHEMA)
    op.execute(f"ALTER INDEX {SCHEMA}.cube_counters_pkey RENAME TO cube_pkey")
    for d in INDEXED:
        op.create_index(f"cube_{d}", "cube", [d, "day"], schema=SCHEMA)
    op.execute(f"DROP FUNCTION {SCHEMA}.add_counters(jsonb, jsonb)")
