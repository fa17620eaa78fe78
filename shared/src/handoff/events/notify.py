"""Events on handoff.notify.v1: a delivery that gave up, an endpoint that was disabled."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AwareDatetime, Field, TypeAdapter

from handoff.events.envelope import CloudEvent, EventData

TOPIC = "handoff.notify.v1"
SOURCE = "/handoff/notify"


class DeliveryFailedData(EventData):
    delivery_id: str
    subscription_id: str
    channel: str  # webhook, slack or email
    event_id: str  # the event that could not be delivered
    event_type: str
    lead_id: str | None = None
    attempts: int
    last_status: int | None = None  # the receiver's last HTTP status; None: no answer at all
    last_error: str | None = None
    failed_at: AwareDatetime


class EndpointDisabledData(EventData):
    subscription_id: str
    channel: str
    reason: str
    disabled_at: AwareDatetime
    failing_since: AwareDatetime | None = None
    consecutive_failures: int = 0


class DeliveryFailed(CloudEvent[DeliveryFailedData]):
    """Every try of the retry schedule failed; the delivery waits for a manual retry.

    Keyed by the lead, like every handoff topic; `subject` is the lead id when known."""

    type: Literal["handoff.delivery.failed"] = "handoff.delivery.failed"
    source: str = SOURCE


class EndpointDisabled(CloudEvent[EndpointDisabledData]):
    """An endpoint failed for too long, or answered 410 Gone; nothing is sent to it until
    an operator enables it again. Keyed by the subscription id (it concerns no one lead)."""

    type: Literal["handoff.endpoint.disabled"] = "handoff.endpoint.disabled"
    source: str = SOURCE


NotifyEvent = Annotated[DeliveryFailed | EndpointDisabled, Field(discriminator="type")]
notify_event_adapter: TypeAdapter[NotifyEvent] = TypeAdapter(NotifyEvent)
