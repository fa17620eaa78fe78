"""The sla-watch events a fired step should produce, built from the `handoff.events.sla` models
and the reference id (a plain UUID 5): what the firer's fast JSON is held equal to."""

from __future__ import annotations

from handoff.events import sla as ev
from handoff.events.envelope import fact_id
from handoff_sla_watch.domain.firing import Fired
from handoff_sla_watch.domain.model import Timer


def fired_event(t: Timer, step: Fired) -> ev.SlaWarning | ev.SlaBreached | ev.SlaEscalated:
    """The model of a fired step, with the id derived from the timer, its arming and level."""
    arming = t.started_at.isoformat() if t.started_at else ""
    fields = {
        "lead_id": t.lead_id,
        "handoff_id": t.handoff_id,
        "timer_id": t.timer_id,
        "policy": t.policy,
        "stage": t.stage,
        "due_at": t.due_at,
        "rep_id": t.rep_id,
        "fired_at": step.fired_at,
        "late_by_seconds": step.late_by_seconds,
    }
    if step.kind == "warning":
        return ev.SlaWarning(
            id=fact_id("warning", t.timer_id, arming),
            subject=t.lead_id,
            time=step.fired_at,
            data=ev.FiredData(**fields),
        )
    if step.kind == "breached":
        return ev.SlaBreached(
            id=fact_id("breached", t.timer_id, arming),
            subject=t.lead_id,
            time=step.fired_at,
            data=ev.FiredData(**fields),
        )
    assert step.action in ("remind", "escalate_to_manager", "reassign")
    return ev.SlaEscalated(
        id=fact_id("escalated", t.timer_id, arming, str(step.level)),
        subject=t.lead_id,
        time=step.fired_at,
        data=ev.EscalatedData(**fields, level=step.level, action=step.action, target=step.target),
    )
