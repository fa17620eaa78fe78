"""Every event routing publishes, built from handoffs, as the outbox messages to append: ids are
deterministic per fact, so a replay publishes the same event again, never a second one."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from handoff.events import routing as ev
from handoff.events.encode import encode_event, fact_id, rfc3339, without_none
from handoff.messaging.producer import Message
from handoff_routing.adapters import decision_codec
from handoff_routing.domain.handoff import Handoff
from handoff_routing.domain.roster import Roster


def _hot(kind: str, event_id: str, h: Handoff, at: str, data: dict[str, Any]) -> Message:
    value = encode_event(
        type=kind,
        id=event_id,
        source=ev.SOURCE,
        subject=h.lead_id,
        time=at,
        data=without_none(data),
    )
    return Message(ev.TOPIC, h.lead_id.encode(), value)


def assignment(
    h: Handoff, roster: Roster, steps: Sequence[dict[str, Any]] | None = None
) -> Message:
    """handoff.lead.assigned, or .unassigned when the lead waits in a pool's queue.

    `data` is built as a plain dict rather than through the pydantic models: this is the hot
    path (bench/routing.py), and the models parse it (tests check every such event against them).
    `steps` are `h.decision` already encoded by `decision_codec.encode`, when the caller keeps
    them for the handoff's row too: the steps are then encoded once for both.
    """
    if steps is None:
        steps = decision_codec.encode(h.decision)
    if h.rep_id is not None and h.assigned_at is not None:
        rep = roster.reps.get(h.rep_id)
        at = rfc3339(h.assigned_at)  # the event's time and its assigned_at: formatted once
        return _hot(
            "handoff.lead.assigned",
            fact_id("assigned", h.handoff_id),
            h,
            at,
            {
                "lead_id": h.lead_id,
                "handoff_id": h.handoff_id,
                "mql_id": h.mql_id,
                "rep_id": h.rep_id,
                "pool": h.pool or "",
                "rule": h.rule,
                "assigned_at": at,
                "decision": steps,
                "mql_trigger": h.trigger,
                "fit_grade": h.fit_grade,
                "team": rep.team if rep else None,
                "manager_id": rep.manager if rep else None,
            },
        )
    reason = next((s.note for s in reversed(h.decision) if s.note), "no rep available")
    at = rfc3339(h.updated_at)
    return _hot(
        "handoff.lead.unassigned",
        fact_id("unassigned", h.handoff_id),
        h,
        at,
        {
            "lead_id": h.lead_id,
            "handoff_id": h.handoff_id,
            "mql_id": h.mql_id,
            "pool": h.pool,
            "reason": reason,
            "at": at,
            "decision": steps,
        },
    )


def _action(h: Handoff, at: datetime) -> ev.HandoffActionData:
    assert h.rep_id is not None
    return ev.HandoffActionData(lead_id=h.lead_id, handoff_id=h.handoff_id, rep_id=h.rep_id, at=at)


# A rep's actions are rare beside assignments: built through the models, which check them.


def accepted(h: Handoff, at: datetime) -> Message:
    data = _action(h, at)
    event = ev.LeadAccepted(
        id=fact_id("accepted", h.handoff_id), subject=h.lead_id, time=at, data=data
    )
    return Message.of(ev.TOPIC, event)


def rejected(h: Handoff, at: datetime) -> Message:
    data = ev.RejectedData(
        **_action(h, at).model_dump(),
        reason_code=h.reason_code or "",
        note=h.note,
        follow_up=h.follow_up,
    )
    event = ev.LeadRejected(
        id=fact_id("rejected", h.handoff_id), subject=h.lead_id, time=at, data=data
    )
    return Message.of(ev.TOPIC, event)


def contacted(h: Handoff, at: datetime) -> Message:
    data = ev.ContactedData(**_action(h, at).model_dump(), channel=h.channel)
    event = ev.LeadContacted(
        id=fact_id("contacted", h.handoff_id), subject=h.lead_id, time=at, data=data
    )
    return Message.of(ev.TOPIC, event)


def dispositioned(h: Handoff, at: datetime) -> Message:
    data = ev.DispositionedData(**_action(h, at).model_dump(), outcome=h.outcome, note=h.note)
    event = ev.LeadDispositioned(
        id=fact_id("dispositioned", h.handoff_id), subject=h.lead_id, time=at, data=data
    )
    return Message.of(ev.TOPIC, event)


def recycled(h: Handoff, at: datetime) -> Message:
    assert h.recycle_until is not None
    data = ev.RecycledData(**_action(h, at).model_dump(), until=h.recycle_until)
    event = ev.LeadRecycled(
        id=fact_id("recycled", h.handoff_id), subject=h.lead_id, time=at, data=data
    )
    return Message.of(ev.TOPIC, event)


def reassigned(h: Handoff, following: Handoff, at: datetime, reason: str) -> Message:
    """The lead taken from `h`'s rep and handed on as `following`: rep_id names the new rep.

    When nobody else can take it, `following` waits in its pool's queue (its unassigned event
    follows); v1 requires a rep_id, so it then names the rep it was taken from, and `queued`
    says so. The handoff's later handoff.lead.assigned names whoever gets it.
    """
    assert h.rep_id is not None
    data = ev.ReassignedData(
        lead_id=h.lead_id,
        handoff_id=h.handoff_id,
        rep_id=following.rep_id or h.rep_id,
        at=at,
        previous_rep_id=h.rep_id,
        new_handoff_id=following.handoff_id,
        reason=reason,
        queued=following.rep_id is None,
    )
    event = ev.LeadReassigned(
        id=fact_id("reassigned", h.handoff_id), subject=h.lead_id, time=at, data=data
    )
    return Message.of(ev.TOPIC, event)
