"""The firer's hot path: fired steps encoded straight to CloudEvents JSON, no pydantic round trip.

A burst of a hundred thousand breaches spends most of its Python time building and
serialising event models; this writes the same JSON directly. A unit test holds it
equal to the `handoff.events.sla` models, which stay the schema.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from handoff.events import sla as ev
from handoff.events.envelope import NAMESPACE
from handoff.messaging.producer import Message
from handoff_sla_watch.domain.firing import Fired
from handoff_sla_watch.domain.model import Timer

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


@lru_cache(maxsize=8192)  # a batch shares its fired_at, a burst its due and start times
def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


@lru_cache(maxsize=8192)
def _arming(started_at: datetime) -> str:
    return started_at.isoformat()


def fired_message(t: Timer, step: Fired) -> Message:
    """The outbox message of one fired step (warning, breached or escalated)."""
    assert t.due_at is not None and t.started_at is not None
    arming = _arming(t.started_at)
    data: dict[str, Any] = {
        "lead_id": t.lead_id,
        "handoff_id": t.handoff_id,
        "timer_id": t.timer_id,
        "policy": t.policy,
        "stage": t.stage,
        "due_at": _iso(t.due_at),
        "fired_at": _iso(step.fired_at),
        "late_by_seconds": step.late_by_seconds,
    }
    if t.rep_id is not None:
        data["rep_id"] = t.rep_id
    if step.kind == "escalated":
        event_id = fact_id("escalated", t.timer_id, arming, str(step.level))
        data["level"] = step.level
        data["action"] = step.action
        if step.target is not None:
            data["target"] = step.target
    else:
        event_id = fact_id(step.kind, t.timer_id, arming)
    event = {
        "specversion": "1.0",
        "id": event_id,
        "source": ev.SOURCE,
        "type": f"handoff.sla.{step.kind}",
        "subject": t.lead_id,
        "time": _iso(step.fired_at),
        "datacontenttype": "application/json",
        "data": data,
    }
    return Message(ev.TOPIC, t.lead_id.encode(), json.dumps(event, separators=(",", ":")).encode())
