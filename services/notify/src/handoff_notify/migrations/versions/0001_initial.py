"""notify schema: subscriptions with their health, handoffs seen, the delivery queue, outbox, inbox.

Revision ID: 0001
Revises:
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from handoff.migrations import create_messaging_tables_v1, drop_messaging_tables_v1

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

SCHEMA = "notify"
TEXTS = postgresql.ARRAY(sa.Text)


def upgrade() -> None:
    op.create_table(
        "subscriptions",
        sa.Column("subscription_id", sa.Text, primary_key=True),
        sa.Column("channel", sa.Text, nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("secrets", TEXTS, nullable=False, server_default=sa.text("'{}'")),
        sa.Column("event_types", TEXTS, nullable=False),
        sa.Column("pools", TEXTS, nullable=False, server_default=sa.text("'{}'")),
        sa.Column("teams", TEXTS, nullable=False, server_default=sa.text("'{}'")),
        sa.Column("reps", TEXTS, nullable=False, server_default=sa.text("'{}'")),
        sa.Column("language", sa.Text),
        sa.Column("description", sa.Text, nullable=False, server_default=sa.text("''")),
        sa.Column("origin", sa.Text, nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            nullable=False,
            server_default=sa.text("now()"),
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            nullable=False,
            server_default=sa.text("now()"),
        ),
        sa.Column("consecutive_failures", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("failing_since", sa.DateTime(timezone=True)),
        sa.Column("open_until", sa.DateTime(timezone=True)),
        sa.Column("disabled_at", sa.DateTime(timezone=True)),
        sa.Column("disabled_reason", sa.Text),
        sa.CheckConstraint(
            "channel IN ('webhook', 'slack', 'email')", name="subscriptions_channel_check"
        ),
        sa.CheckConstraint("origin IN ('config', 'api')", name="subscriptions_origin_check"),
        schema=SCHEMA,
    )
    op.create_table(
        "handoffs",
        sa.Column("handoff_id", sa.Text, primary_key=True),
        sa.Column("lead_id", sa.Text, nullable=False),
        sa.Column("rep_id", sa.Text),
        sa.Column("pool", sa.Text),
        sa.Column("team", sa.Text),
        sa.Column("manager_id", sa.Text),
        sa.Column("assigned_at", sa.DateTime(timezone=True)),
        sa.Column("mql_id", sa.Text),
        sa.Column("previous_rep_id", sa.Text),
        schema=SCHEMA,
    )
    op.create_table(
        "mqls",
        sa.Column("mql_id", sa.Text, primary_key=True),
        sa.Column("lead_id", sa.Text, nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("lead_name", sa.Text),
        sa.Column("company_name", sa.Text),
        schema=SCHEMA,
    )
    op.create_table(
        "deliveries",
        sa.Column("delivery_id", sa.Text, primary_key=True),
        sa.Column("event_id", sa.Text, nullable=False),
        sa.Column("subscription_id", sa.Text, nullable=False),
        sa.Column("event_type", sa.Text, nullable=False),
        sa.Column("lead_id", sa.Text),
        sa.Column("body", sa.LargeBinary, nullable=False),
        sa.Column("status", sa.Text, nullable=False, server_default=sa.text("'pending'")),
        sa.Column("attempts", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("next_at", sa.DateTime(timezone=True)),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            nullable=False,
            server_default=sa.text("now()"),
        ),
        sa.Column("last_attempt_at", sa.DateTime(timezone=True)),
        sa.Column("last_status", sa.Integer),
        sa.Column("last_error", sa.Text),
        sa.Column("last_response", sa.Text),
        sa.Column("delivered_at", sa.DateTime(timezone=True)),
        sa.UniqueConstraint(
            "event_id", "subscription_id", name="deliveries_event_subscription_key"
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'succeeded', 'failed')", name="deliveries_status_check"
        ),
        schema=SCHEMA,
    )
    op.create_index(
        "deliveries_due",
        "deliveries",
        ["next_at"],
        schema=SCHEMA,
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index(
        "deliveries_status_created", "deliveries", ["status", "created_at"], schema=SCHEMA
    )
    create_messaging_tables_v1(SCHEMA)


def downgrade() -> None:
    drop_messaging_tables_v1(SCHEMA)
    op.drop_table("deliveries", schema=SCHEMA)
    op.drop_table("mqls", schema=SCHEMA)
    op.drop_table("handoffs", schema=SCHEMA)
    op.drop_table("subscriptions", schema=SCHEMA)
