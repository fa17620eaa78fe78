"""The events sla-watch should emit, built from the `handoff.events.sla` models and a plain
UUID 5: the reference its encoder (adapters/events_out.py) and its firer are held equal to."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from handoff.events import sla as ev
from handoff.events.encode import NAMESPACE
from handoff_sla_watch.domain.firing import Fired
from handoff_sla_watch.domain.model import Met, Timer


def reference_id(*parts: str) -> str:
    """The CONTRACT's deterministic id, computed the slow, obvious way."""
    return str(uuid.uuid5(NAMESPACE, "\x1f".join(parts)))


def _arming(t: Timer) -> str:
    return t.started_at.isoformat() if t.started_at else ""


def _timer_fields(t: Timer) -> dict[str, Any]:
    return {
        "lead_id": t.lead_id,
        "handoff_id": t.handoff_id,
        "timer_id": t.timer_id,
        "policy": t.policy,
        "stage": t.stage,
        "due_at": t.due_at,
        "rep_id": t.rep_id,
    }


def started_event(t: Timer, warn_at: datetime | None) -> ev.SlaStarted:
    assert t.started_at is not None
    return ev.SlaStarted(
        id=reference_id("started", t.timer_id, _arming(t)),
        subject=t.lead_id,
        time=t.started_at,
        data=ev.StartedData(**_timer_fields(t), started_at=t.started_at, warn_at=warn_at),
    )


def met_event(m: Met) -> ev.SlaMet:
    t = m.timer
    return ev.SlaMet(
        id=reference_id("met", t.timer_id, _arming(t)),
        subject=t.lead_id,
        time=m.met_at,
        data=ev.MetData(
            **_timer_fields(t),
            elapsed=ev.Elapsed(wall_seconds=m.wall_seconds, business_seconds=m.business_seconds),
            met_at=m.met_at,
        ),
    )


def fired_event(t: Timer, step: Fired) -> ev.SlaWarning | ev.SlaBreached | ev.SlaEscalated:
    """The model of a fired step, with the id derived from the timer, its arming and level."""
    fields = {
        **_timer_fields(t),
        "fired_at": step.fired_at,
        "late_by_seconds": step.late_by_seconds,
    }
    if step.kind == "warning":
        return ev.SlaWarning(
            id=reference_id("warning", t.timer_id, _arming(t)),
            subject=t.lead_id,
            time=step.fired_at,
            data=ev.FiredData(**fields),
        )
    if step.kind == "breached":
        return ev.SlaBreached(
            id=reference_id("breached", t.timer_id, _arming(t)),
            subject=t.lead_id,
            time=step.fired_at,
            data=ev.FiredData(**fields),
        )
    assert step.action in ("remind", "escalate_to_manager", "reassign")
    return ev.SlaEscalated(
        id=reference_id("escalated", t.timer_id, _arming(t), str(step.level)),
        subject=t.lead_id,
        time=step.fired_at,
        data=ev.EscalatedData(**fields, level=step.level, action=step.action, target=step.target),
    )
