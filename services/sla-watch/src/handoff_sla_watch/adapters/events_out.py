"""Every event sla-watch emits on handoff.sla.v1, written by the shared encoder: started and met
(by the consumer's handler), warning, breached and escalated (by the firer, its hot path).

Event ids are derived from the timer and its arming (and the escalation level), so the
same fact published twice carries the same id and a re-armed timer's events have new ids.
`data` is built as a plain dict in the order of the `handoff.events.sla` models (which stay
the schema; a unit test holds these bytes equal to theirs), absent fields left out as the
models leave them: a burst of a hundred thousand breaches spent most of its Python time
building and validating event models.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache

from handoff.events import sla as ev
from handoff.events.encode import encode_event, fact_id, rfc3339
from handoff.messaging.producer import Message
from handoff_sla_watch.domain.firing import Fired
from handoff_sla_watch.domain.model import Met, Timer

_WARNING, _BREACHED, _ESCALATED = (
    ev.SlaWarning.model_fields["type"].default,
    ev.SlaBreached.model_fields["type"].default,
    ev.SlaEscalated.model_fields["type"].default,
)
_FIRED_TYPES = {"warning": _WARNING, "breached": _BREACHED, "escalated": _ESCALATED}


@lru_cache(maxsize=8192)  # a batch shares its fired_at, a burst its due times
def _rfc3339(at: datetime) -> str:
    return rfc3339(at)


@lru_cache(maxsize=8192)  # a burst shares its start times
def _arming(started_at: datetime | None) -> str:
    """Which arming of the timer an event belongs to: a re-armed stage starts a new one."""
    return started_at.isoformat() if started_at else ""


def _timer_fields(t: Timer) -> dict[str, object]:
    """What every handoff.sla.* event says about its timer, in the models' order."""
    assert t.due_at is not None
    data: dict[str, object] = {
        "lead_id": t.lead_id,
        "handoff_id": t.handoff_id,
        "timer_id": t.timer_id,
        "policy": t.policy,
        "stage": t.stage,
        "due_at": _rfc3339(t.due_at),
    }
    if t.rep_id is not None:
        data["rep_id"] = t.rep_id
    return data


def fired_id(t: Timer, step: Fired) -> str:
    """The fired step's CloudEvent id."""
    if step.kind == "escalated":
        return fact_id("escalated", t.timer_id, _arming(t.started_at), str(step.level))
    return fact_id(step.kind, t.timer_id, _arming(t.started_at))


def fired(t: Timer, step: Fired) -> bytes:
    """The CloudEvent of one fired step (warning, breached or escalated), as JSON bytes."""
    at = _rfc3339(step.fired_at)
    data = _timer_fields(t)
    data["fired_at"] = at
    data["late_by_seconds"] = step.late_by_seconds
    if step.kind == "escalated":
        data["level"] = step.level
        data["action"] = step.action
        if step.target is not None:
            data["target"] = step.target
    return encode_event(
        type=_FIRED_TYPES[step.kind],
        id=fired_id(t, step),
        source=ev.SOURCE,
        subject=t.lead_id,
        time=at,
        data=data,
    )


def started(t: Timer, warn_at: datetime | None) -> Message:
    """The timer was armed: its due time (and warning point, if any) known from now on."""
    assert t.started_at is not None
    data = _timer_fields(t)
    data["started_at"] = at = _rfc3339(t.started_at)
    if warn_at is not None:
        data["warn_at"] = _rfc3339(warn_at)
    value = encode_event(
        type=ev.SlaStarted.model_fields["type"].default,
        id=fact_id("started", t.timer_id, _arming(t.started_at)),
        source=ev.SOURCE,
        subject=t.lead_id,
        time=at,
        data=data,
    )
    return Message(ev.TOPIC, t.lead_id.encode(), value)


def met(m: Met) -> Message:
    """The assigned rep answered in time."""
    t = m.timer
    data = _timer_fields(t)
    data["elapsed"] = {"wall_seconds": m.wall_seconds, "business_seconds": m.business_seconds}
    data["met_at"] = at = _rfc3339(m.met_at)
    value = encode_event(
        type=ev.SlaMet.model_fields["type"].default,
        id=fact_id("met", t.timer_id, _arming(t.started_at)),
        source=ev.SOURCE,
        subject=t.lead_id,
        time=at,
        data=data,
    )
    return Message(ev.TOPIC, t.lead_id.encode(), value)
