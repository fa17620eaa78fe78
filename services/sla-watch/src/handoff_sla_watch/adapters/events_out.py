"""Every event sla-watch emits on handoff.sla.v1: started and met (by the consumer's handler),
warning, breached and escalated (by the firer, its hot path).

Event ids are derived from the timer and its arming (and the escalation level), so the
same fact published twice carries the same id and a re-armed timer's events have new ids.

The firer's events are filled into string templates: a burst of a hundred thousand
breaches spent most of its Python time building event models and serialising dicts
(json.dumps), and about as long again when PostgreSQL built the same JSON with
json_build_object; filling a template, with only the strings escaped (by json's own C
escaper), costs a fraction of either. Unit tests hold the result equal to the
`handoff.events.sla` models, which stay the schema.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from functools import lru_cache
from json.encoder import encode_basestring as quote
from typing import Any

from handoff.events import sla as ev
from handoff.events.envelope import NAMESPACE
from handoff.messaging.producer import Message
from handoff_sla_watch.domain.firing import Fired
from handoff_sla_watch.domain.model import Met, Timer

_NAMESPACE = NAMESPACE.bytes


def fact_id(*parts: str) -> str:
    """handoff.events.envelope.fact_id (a UUID 5), computed without building a UUID object."""
    digest = bytearray(
        hashlib.sha1(_NAMESPACE + "\x1f".join(parts).encode(), usedforsecurity=False).digest()[:16]
    )
    digest[6] = (digest[6] & 0x0F) | 0x50
    digest[8] = (digest[8] & 0x3F) | 0x80
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


@lru_cache(maxsize=8192)  # a batch shares its fired_at
def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


@lru_cache(maxsize=8192)  # a burst shares its start times
def _arming(started_at: datetime | None) -> str:
    """Which arming of the timer an event belongs to: a re-armed stage starts a new one."""
    return started_at.isoformat() if started_at else ""


def fired_id(t: Timer, step: Fired) -> str:
    """The fired step's CloudEvent id."""
    if step.kind == "escalated":
        return fact_id("escalated", t.timer_id, _arming(t.started_at), str(step.level))
    return fact_id(step.kind, t.timer_id, _arming(t.started_at))


_HEAD = (
    '{"specversion":"1.0","id":"%s","source":' + quote(ev.SOURCE) + ',"type":"handoff.sla.%s",'
    '"subject":%s,"time":"%s","datacontenttype":"application/json","data":{'
)


def fired(t: Timer, step: Fired) -> bytes:
    """The CloudEvent of one fired step (warning, breached or escalated), as JSON bytes.

    The same JSON the models write, absent fields (rep_id, target) left out as theirs are.
    """
    assert t.due_at is not None
    lead = quote(t.lead_id)
    fired = iso(step.fired_at)
    out = [
        _HEAD % (fired_id(t, step), step.kind, lead, fired),
        f'"lead_id":{lead},"handoff_id":{quote(t.handoff_id)},"timer_id":{quote(t.timer_id)},'
        f'"policy":{quote(t.policy)},"stage":{quote(t.stage)},"due_at":"{iso(t.due_at)}",'
        f'"fired_at":"{fired}","late_by_seconds":{step.late_by_seconds!r}',
    ]
    if t.rep_id is not None:
        out.append(f',"rep_id":{quote(t.rep_id)}')
    if step.kind == "escalated":
        out.append(f',"level":{step.level},"action":{quote(step.action or "")}')
        if step.target is not None:
            out.append(f',"target":{quote(step.target)}')
    out.append("}}")
    return "".join(out).encode()


def _timer_fields(t: Timer) -> dict[str, Any]:
    """What every handoff.sla.* event says about its timer."""
    return {
        "lead_id": t.lead_id,
        "handoff_id": t.handoff_id,
        "timer_id": t.timer_id,
        "policy": t.policy,
        "stage": t.stage,
        "due_at": t.due_at,
        "rep_id": t.rep_id,
    }


def started(t: Timer, warn_at: datetime | None) -> Message:
    """The timer was armed: its due time (and warning point, if any) known from now on."""
    assert t.started_at is not None and t.due_at is not None
    event = ev.SlaStarted(
        id=fact_id("started", t.timer_id, _arming(t.started_at)),
        subject=t.lead_id,
        time=t.started_at,
        data=ev.StartedData(**_timer_fields(t), started_at=t.started_at, warn_at=warn_at),
    )
    return Message.of(ev.TOPIC, event)


def met(m: Met) -> Message:
    """The assigned rep answered in time."""
    t = m.timer
    event = ev.SlaMet(
        id=fact_id("met", t.timer_id, _arming(t.started_at)),
        subject=t.lead_id,
        time=m.met_at,
        data=ev.MetData(
            **_timer_fields(t),
            elapsed=ev.Elapsed(wall_seconds=m.wall_seconds, business_seconds=m.business_seconds),
            met_at=m.met_at,
        ),
    )
    return Message.of(ev.TOPIC, event)
