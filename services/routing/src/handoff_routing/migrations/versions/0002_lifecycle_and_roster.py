"""Routing: the full handoff lifecycle (reassignment attempts, follow-ups, dispositions) and the
roster in the database (reps, pools, accounts) so the admin API changes it without a restart.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

SCHEMA = "routing"


def upgrade() -> None:
    op.drop_constraint("handoffs_mql_id_key", "handoffs", schema=SCHEMA, type_="unique")
    for column in (
        sa.Column("attempt", sa.Integer, nullable=False, server_default=sa.text("1")),
        # Arrival order, for the pools' queues: one batch shares a created_at.
        sa.Column("seq", sa.BigInteger, sa.Identity(always=False), nullable=False),
        sa.Column("follow_up", sa.Text),
        sa.Column("outcome", sa.Text),
        sa.Column("recycle_until", sa.DateTime(timezone=True)),
        sa.Column("channel", sa.Text),
        sa.Column("excluded", ARRAY(sa.Text), nullable=False, server_default=sa.text("'{}'")),
        sa.Column("facts", JSONB, nullable=False, server_default=sa.text("'{}'")),
        sa.Column("trigger", sa.Text),
        sa.Column("fit_grade", sa.Text),
        sa.Column("next_handoff_id", sa.Text),
    ):
        op.add_column("handoffs", column, schema=SCHEMA)
    op.create_unique_constraint(
        "handoffs_mql_attempt", "handoffs", ["mql_id", "attempt"], schema=SCHEMA
    )
    op.create_index("handoffs_rep_assigned", "handoffs", ["rep_id", "assigned_at"], schema=SCHEMA)
    op.create_index(
        "handoffs_open",
        "handoffs",
        ["rep_id"],
        schema=SCHEMA,
        postgresql_where=sa.text("state = 'assigned'"),
    )
    op.create_index(
        "handoffs_queued",
        "handoffs",
        ["seq"],
        schema=SCHEMA,
        postgresql_where=sa.text("state = 'unassigned'"),
    )
    op.create_table(
        "roster",
        sa.Column("kind", sa.Text, primary_key=True),
        sa.Column("key", sa.Text, primary_key=True),
        sa.Column("doc", JSONB, nullable=False),
        sa.Column("managed_by", sa.Text, nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            nullable=False,
            server_default=sa.text("now()"),
        ),
        schema=SCHEMA,
    )
    op.create_table(
        "roster_version",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("version", sa.BigInteger, nullable=False),
        schema=SCHEMA,
    )
    op.execute(f"INSERT INTO {SCHEMA}.roster_version (id, version) VALUES (1, 0)")


def downgrade() -> None:
    op.drop_table("roster_version", schema=SCHEMA)
    op.drop_table("roster", schema=SCHEMA)
    op.drop_index("handoffs_queued", "handoffs", schema=SCHEMA)
    op.drop_index("handoffs_open", "handoffs", schema=SCHEMA)
    op.drop_index("handoffs_rep_assigned", "handoffs", schema=SCHEMA)
    op.drop_constraint("handoffs_mql_attempt", "handoffs", schema=SCHEMA, type_="unique")
    for name in (
        "next_handoff_id",
        "fit_grade",
        "trigger",
        "facts",
        "excluded",
        "channel",
        "recycle_until",
        "outcome",
        "follow_up",
        "seq",
        "attempt",
    ):
        op.drop_column("handoffs", name, schema=SCHEMA)
    op.create_unique_constraint("handoffs_mql_id_key", "handoffs", ["mql_id"], schema=SCHEMA)
