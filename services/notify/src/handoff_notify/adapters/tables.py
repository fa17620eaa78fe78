"""Tables of the `notify` schema."""

from __future__ import annotations

from sqlalchemy import (
    ARRAY,
    CheckConstraint,
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from handoff.messaging.inbox import inbox_table
from handoff.messaging.outbox import outbox_table

SCHEMA = "notify"
metadata = MetaData(schema=SCHEMA)

subscriptions = Table(
    "subscriptions",
    metadata,
    Column("subscription_id", Text, primary_key=True),
    Column("channel", Text, nullable=False),
    Column("url", Text, nullable=False),
    Column("secrets", ARRAY(Text), nullable=False, server_default=text("'{}'")),
    Column("event_types", ARRAY(Text), nullable=False),
    Column("pools", ARRAY(Text), nullable=False, server_default=text("'{}'")),
    Column("teams", ARRAY(Text), nullable=False, server_default=text("'{}'")),
    Column("reps", ARRAY(Text), nullable=False, server_default=text("'{}'")),
    Column("language", Text),
    Column("description", Text, nullable=False, server_default=text("''")),
    Column("origin", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
    # The endpoint's health: the circuit breaker and the disabled mark.
    Column("consecutive_failures", Integer, nullable=False, server_default=text("0")),
    Column("failing_since", DateTime(timezone=True)),
    Column("open_until", DateTime(timezone=True)),
    Column("disabled_at", DateTime(timezone=True)),
    Column("disabled_reason", Text),
    CheckConstraint("channel IN ('webhook', 'slack', 'email')", name="subscriptions_channel_check"),
    CheckConstraint("origin IN ('config', 'api')", name="subscriptions_origin_check"),
)

# What notify remembers of each handoff from its assignment, so that later events (accepted,
# SLA warnings) can be filtered by pool and team and rendered with the rep's details.
handoffs = Table(
    "handoffs",
    metadata,
    Column("handoff_id", Text, primary_key=True),
    Column("lead_id", Text, nullable=False),
    Column("rep_id", Text),
    Column("pool", Text),
    Column("team", Text),
    Column("manager_id", Text),
    Column("assigned_at", DateTime(timezone=True)),
    Column("mql_id", Text),
    # Set when the handoff replaced another (a reassignment): the rep who had the lead.
    Column("previous_rep_id", Text),
    # From handoff.sla.started (accept stage): the due time the new-lead notice names.
    Column("accept_due_at", DateTime(timezone=True)),
)

# From handoff.lead.mql: the reason sentence and the lead's name, for the new-lead notice.
mqls = Table(
    "mqls",
    metadata,
    Column("mql_id", Text, primary_key=True),
    Column("lead_id", Text, nullable=False),
    Column("reason", Text),
    Column("lead_name", Text),
    Column("company_name", Text),
)

deliveries = Table(
    "deliveries",
    metadata,
    Column("delivery_id", Text, primary_key=True),
    Column("event_id", Text, nullable=False),
    Column("subscription_id", Text, nullable=False),
    Column("event_type", Text, nullable=False),
    Column("lead_id", Text),
    Column("body", LargeBinary, nullable=False),
    Column("status", Text, nullable=False, server_default=text("'pending'")),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    # When a worker may next take it: due time, or the end of the lease of the one trying it.
    Column("next_at", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
    Column("last_attempt_at", DateTime(timezone=True)),
    Column("last_status", Integer),
    Column("last_error", Text),
    Column("last_response", Text),
    Column("delivered_at", DateTime(timezone=True)),
    # A new-lead notice waiting out the grace for its SLA start: unclaimed while
    # next_at = held_until (a claim moves next_at past it), so the start may still replace it.
    Column("held_until", DateTime(timezone=True)),
    # Set when the delivery's lead was erased (handoff.lead.erased): its body is gone or stripped.
    Column("erased_at", DateTime(timezone=True)),
    # The idempotency key: one delivery per event per subscription, however often it is consumed.
    UniqueConstraint("event_id", "subscription_id", name="deliveries_event_subscription_key"),
    CheckConstraint(
        "status IN ('pending', 'succeeded', 'failed', 'cancelled')", name="deliveries_status_check"
    ),
    Index("deliveries_due", "next_at", postgresql_where=text("status = 'pending'")),
    Index("deliveries_status_created", "status", "created_at"),
)

outbox = outbox_table(metadata)
inbox = inbox_table(metadata)
