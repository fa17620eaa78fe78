"""Scoring keeps each lead's activity history and MQL cycle in one `state` column.

The skeleton's tallies become history (each counted activity at its type's last_seen),
so a lead keeps its activity counts; the points are recomputed under the current model.
The old table stays as `leads_v1` until a later revision drops it.

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

SCHEMA = "scoring"


def upgrade() -> None:
    op.rename_table("leads", "leads_v1", schema=SCHEMA)
    op.execute(f"ALTER INDEX IF EXISTS {SCHEMA}.leads_pkey RENAME TO leads_v1_pkey")
    op.create_table(
        "leads",
        sa.Column("lead_id", sa.Text, primary_key=True),
        sa.Column("state", sa.LargeBinary, nullable=False),
        sa.Column("score", sa.Integer, nullable=False),
        sa.Column("fit_grade", sa.Text, nullable=False),
        sa.Column("cycle", sa.Integer, nullable=False),
        sa.Column("mql_id", sa.Text),
        sa.Column("disqualified", sa.Text),
        sa.Column("model_version", sa.Text, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True)),
        schema=SCHEMA,
    )
    op.execute(
        f"""
        INSERT INTO {SCHEMA}.leads
            (lead_id, state, score, fit_grade, cycle, mql_id, model_version, updated_at)
        SELECT l.lead_id,
               convert_to(json_build_object(
                   'h', coalesce((
                       SELECT json_agg(json_build_array(
                                  extract(epoch FROM (t.value->>2)::timestamptz), t.key, NULL)
                              ORDER BY (t.value->>2)::timestamptz, t.key)
                       FROM jsonb_each(l.tallies) AS t,
                            generate_series(1, greatest((t.value->>0)::int, 0))), '[]'::json),
                   't', l.traits,
                   'c', l.cycle,
                   'q', extract(epoch FROM l.qualified_at),
                   'g', CASE WHEN l.qualified_at IS NULL THEN NULL ELSE 'threshold:v1' END
               )::text, 'UTF8'),
               l.score, 'D', l.cycle, l.mql_id, coalesce(l.model_version, 'v1'), l.updated_at
        FROM {SCHEMA}.leads_v1 AS l
        """
    )


def downgrade() -> None:
    op.drop_table("leads", schema=SCHEMA)
    op.execute(f"ALTER INDEX IF EXISTS {SCHEMA}.leads_v1_pkey RENAME TO leads_pkey")
    op.rename_table("leads_v1", "leads", schema=SCHEMA)
