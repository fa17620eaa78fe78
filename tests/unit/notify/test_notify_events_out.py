"""notify's events_out: what it publishes reads back through its topic's model with the keys
CONTRACT.md gives, and a webhook's body is the consumed event, new attributes included."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from handoff.events import notify as ev
from handoff.events.envelope import GenericEvent, parse_event
from handoff_notify.adapters import events_out
from handoff_notify.adapters.queue import Claimed
from handoff_notify.domain.breaker import Health

AT = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def claimed(lead_id: str | None) -> Claimed:
    return Claimed(
        delivery_id="d-1",
        event_id="e-1",
        subscription_id="crm",
        event_type="handoff.lead.assigned",
        lead_id=lead_id,
        body=b"{}",
        attempts=6,
        channel="webhook",
        url="https://crm.example.test/hook",
        secrets=(),
        health=Health(),
    )


def test_a_failed_delivery_is_keyed_by_its_lead_else_by_its_subscription() -> None:
    message = events_out.delivery_failed(claimed("L-1"), 7, 503, None, AT)
    event = parse_event(ev.notify_event_adapter, message.value)
    assert (message.topic, message.key) == (ev.TOPIC, b"L-1")
    assert isinstance(event, ev.DeliveryFailed)
    assert (event.subject, event.data.attempts, event.data.last_status) == ("L-1", 7, 503)
    assert "last_error" not in json.loads(message.value)["data"]  # absent, not null
    assert events_out.delivery_failed(claimed(None), 7, 503, None, AT).key == b"crm"


def test_the_same_failure_written_twice_keeps_its_id() -> None:
    first = events_out.delivery_failed(claimed("L-1"), 7, 503, None, AT)
    again = events_out.delivery_failed(claimed("L-1"), 7, 503, None, AT)
    assert first.value == again.value


def test_a_disabled_endpoint_is_keyed_by_its_subscription() -> None:
    health = Health(
        consecutive_failures=9, failing_since=AT, disabled_at=AT, disabled_reason="gone"
    )
    message = events_out.endpoint_disabled("crm", "webhook", health)
    event = parse_event(ev.notify_event_adapter, message.value)
    assert message.key == b"crm"
    assert isinstance(event, ev.EndpointDisabled)
    assert (event.data.reason, event.data.consecutive_failures) == ("gone", 9)


def test_a_webhook_body_is_the_event_read_with_attributes_a_newer_producer_added() -> None:
    raw = {
        "specversion": "1.0",
        "id": "e-1",
        "source": "/handoff/routing",
        "type": "handoff.lead.assigned",
        "subject": "L-1",
        "time": "2026-03-02T09:30:00Z",
        "datacontenttype": "application/json",
        "data": {"lead_id": "L-1", "rep_id": "r-1", "added_later": [1, 2]},
        "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    }
    event = GenericEvent.model_validate_json(json.dumps(raw))
    assert json.loads(events_out.webhook_body(event)) == raw
