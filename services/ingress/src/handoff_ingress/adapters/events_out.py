"""Every event ingress emits: a signal (activity, identify or alias) as its handoff.signals.v1 record."""

from __future__ import annotations

from typing import Any

from aiokafka.record.default_records import DefaultRecordBatchBuilder

from handoff.events import signals as sig
from handoff.events.encode import encode_event
from handoff.events.envelope import utcnow
from handoff.messaging.producer import Message
from handoff_ingress.domain.signals import SignalIn, missing_field

API_SOURCE = "/handoff/api"
_ACTIVITY = "handoff.signal.activity"

Signal = sig.ActivitySignal | sig.IdentifySignal | sig.AliasSignal


def to_event(s: SignalIn, *, ce_source: str = API_SOURCE, event_id: str | None = None) -> Signal:
    """The CloudEvent for a signal; webhooks pass their own CloudEvents source and a stable id.
    Raises ValueError naming the field its type requires and it lacks."""
    missing = missing_field(s)
    if missing is not None:
        raise ValueError(missing)
    source = s.source or "api"
    if s.type == "identify":
        assert s.traits is not None
        return sig.IdentifySignal(
            id=event_id or s.id,
            source=ce_source,
            subject=s.lead_id,
            data=sig.IdentifyData(
                lead_id=s.lead_id, occurred_at=s.occurred_at, source=source, traits=s.traits
            ),
        )
    if s.type == "alias":
        assert s.previous_id is not None
        return sig.AliasSignal(
            id=event_id or s.id,
            source=ce_source,
            subject=s.lead_id,
            data=sig.AliasData(
                lead_id=s.lead_id,
                previous_id=s.previous_id,
                occurred_at=s.occurred_at,
                source=source,
            ),
        )
    return sig.ActivitySignal(
        id=event_id or s.id,
        source=ce_source,
        subject=s.lead_id,
        data=sig.ActivityData(
            lead_id=s.lead_id,
            activity_type=s.type,
            occurred_at=s.occurred_at,
            source=source,
            properties=s.properties,
            traits=s.traits,
        ),
    )


def to_message(s: SignalIn, *, ce_source: str = API_SOURCE, event_id: str | None = None) -> Message:
    """The broker record of `to_event(s)`, byte for byte, built without a second validation.

    An activity (nearly every signal) is written straight from the validated SignalIn: its fields
    carry the same constraints as ActivityData's, so building and validating the CloudEvent model
    again only to dump it would cost more than the rest of the request. Identify and alias take
    the model path. Raises ValueError naming a missing field, as `to_event` does.
    """
    if s.type in ("identify", "alias"):
        return Message.of(sig.TOPIC, to_event(s, ce_source=ce_source, event_id=event_id))
    data: dict[str, Any] = {
        "lead_id": s.lead_id,
        "activity_type": s.type,
        "occurred_at": s.occurred_at,
        "source": s.source or "api",
        "properties": s.properties,
    }
    if s.traits is not None:
        # Written as the model writes its traits: absent (None) fields left out.
        data["traits"] = s.traits.model_dump(mode="json", exclude_none=True)
    value = encode_event(
        type=_ACTIVITY,
        id=event_id or s.id,
        source=ce_source,
        subject=s.lead_id,
        time=utcnow(),
        data=data,
    )
    return Message(sig.TOPIC, s.lead_id.encode(), value)


def record_bytes(m: Message) -> int:
    """The size the producer checks against its max request size, computed the producer's way."""
    return int(DefaultRecordBatchBuilder.estimate_size_in_bytes(m.key, m.value, list(m.headers)))
