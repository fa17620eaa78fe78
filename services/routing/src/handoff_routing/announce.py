"""The events routing publishes, built from handoffs: ids are deterministic per fact."""

from __future__ import annotations

from datetime import datetime

from handoff.events import routing as ev
from handoff.events.envelope import CloudEvent, EventData, fact_id
from handoff_routing.domain.decision import DecisionStep
from handoff_routing.domain.handoff import Handoff
from handoff_routing.domain.roster import Roster


def decision_steps(steps: tuple[DecisionStep, ...]) -> list[ev.DecisionStep]:
    return [
        ev.DecisionStep(
            rule=s.rule,
            matched=s.matched,
            pool=s.pool,
            candidates=[ev.Candidate(rep_id=c.rep_id, skipped=c.skipped) for c in s.candidates],
            note=s.note,
        )
        for s in steps
    ]


def assignment(h: Handoff, roster: Roster) -> ev.LeadAssigned | ev.LeadUnassigned:
    steps = decision_steps(h.decision)
    if h.rep_id is not None and h.assigned_at is not None:
        rep = roster.reps.get(h.rep_id)
        return ev.LeadAssigned(
            id=fact_id("assigned", h.handoff_id),
            subject=h.lead_id,
            time=h.assigned_at,
            data=ev.AssignedData(
                lead_id=h.lead_id,
                handoff_id=h.handoff_id,
                mql_id=h.mql_id,
                rep_id=h.rep_id,
                pool=h.pool or "",
                rule=h.rule,
                assigned_at=h.assigned_at,
                decision=steps,
                mql_trigger=h.trigger,
                fit_grade=h.fit_grade,
                team=rep.team if rep else None,
                manager_id=rep.manager if rep else None,
            ),
        )
    return ev.LeadUnassigned(
        id=fact_id("unassigned", h.handoff_id),
        subject=h.lead_id,
        time=h.updated_at,
        data=ev.UnassignedData(
            lead_id=h.lead_id,
            handoff_id=h.handoff_id,
            mql_id=h.mql_id,
            pool=h.pool,
            reason=next((s.note for s in reversed(h.decision) if s.note), "no rep available"),
            at=h.updated_at,
            decision=steps,
        ),
    )


def _action(h: Handoff, at: datetime) -> ev.HandoffActionData:
    assert h.rep_id is not None
    return ev.HandoffActionData(lead_id=h.lead_id, handoff_id=h.handoff_id, rep_id=h.rep_id, at=at)


def accepted(h: Handoff, at: datetime) -> ev.LeadAccepted:
    return ev.LeadAccepted(
        id=fact_id("accepted", h.handoff_id), subject=h.lead_id, time=at, data=_action(h, at)
    )


def rejected(h: Handoff, at: datetime) -> ev.LeadRejected:
    base = _action(h, at)
    return ev.LeadRejected(
        id=fact_id("rejected", h.handoff_id),
        subject=h.lead_id,
        time=at,
        data=ev.RejectedData(**base.model_dump(), reason_code=h.reason_code or "", note=h.note),
    )


def contacted(h: Handoff, at: datetime) -> ev.LeadContacted:
    return ev.LeadContacted(
        id=fact_id("contacted", h.handoff_id),
        subject=h.lead_id,
        time=at,
        data=ev.ContactedData(**_action(h, at).model_dump(), channel=h.channel),
    )


def dispositioned(h: Handoff, at: datetime) -> ev.LeadDispositioned:
    return ev.LeadDispositioned(
        id=fact_id("dispositioned", h.handoff_id),
        subject=h.lead_id,
        time=at,
        data=ev.DispositionedData(
            **_action(h, at).model_dump(),
            outcome=h.outcome,
            note=h.note,
        ),
    )


def recycled(h: Handoff, at: datetime) -> ev.LeadRecycled:
    assert h.recycle_until is not None
    return ev.LeadRecycled(
        id=fact_id("recycled", h.handoff_id),
        subject=h.lead_id,
        time=at,
        data=ev.RecycledData(**_action(h, at).model_dump(), until=h.recycle_until),
    )


def reassigned(h: Handoff, at: datetime, reason: str) -> ev.LeadReassigned:
    return ev.LeadReassigned(
        id=fact_id("reassigned", h.handoff_id),
        subject=h.lead_id,
        time=at,
        data=ev.ReassignedData(
            **_action(h, at).model_dump(),
            previous_rep_id=h.rep_id,
            new_handoff_id=h.next_handoff_id,
            reason=reason,
        ),
    )


Announcement = CloudEvent[EventData]
