"""Every event notify emits, all through the shared encoder: delivery_failed and
endpoint_disabled on handoff.notify.v1 (as outbox messages), and a webhook's body."""

from __future__ import annotations

from datetime import datetime

from handoff.events import fact_id
from handoff.events import notify as ev
from handoff.events.envelope import GenericEvent
from handoff.messaging.producer import Message
from handoff_notify.adapters.queue import Claimed
from handoff_notify.domain.breaker import Health


def delivery_failed(
    d: Claimed, attempts: int, last_status: int | None, last_error: str | None, at: datetime
) -> Message:
    event = ev.DeliveryFailed(
        id=fact_id(ev.DeliveryFailed.model_fields["type"].default, d.delivery_id, str(attempts)),
        subject=d.lead_id,
        time=at,
        data=ev.DeliveryFailedData(
            delivery_id=d.delivery_id,
            subscription_id=d.subscription_id,
            channel=d.channel,
            event_id=d.event_id,
            event_type=d.event_type,
            lead_id=d.lead_id,
            attempts=attempts,
            last_status=last_status,
            last_error=last_error,
            failed_at=at,
        ),
    )
    # Keyed by the lead, so a lead's events stay in order; by the endpoint when there is none.
    return Message(ev.TOPIC, (d.lead_id or d.subscription_id).encode(), event.to_json())


def endpoint_disabled(subscription_id: str, channel: str, health: Health) -> Message:
    assert health.disabled_at is not None
    event = ev.EndpointDisabled(
        id=fact_id(
            ev.EndpointDisabled.model_fields["type"].default,
            subscription_id,
            health.disabled_at.isoformat(),
        ),
        time=health.disabled_at,
        data=ev.EndpointDisabledData(
            subscription_id=subscription_id,
            channel=channel,
            reason=health.disabled_reason or "disabled",
            disabled_at=health.disabled_at,
            failing_since=health.failing_since,
            consecutive_failures=health.consecutive_failures,
        ),
    )
    return Message(ev.TOPIC, subscription_id.encode(), event.to_json())


def webhook_body(event: GenericEvent) -> bytes:
    """A webhook's body: the CloudEvent as notify read it, fields added by a newer producer
    included, written by the same encoder as every event handoff publishes."""
    return event.to_json()
