"""The handoff of one MQL to one rep, and the state machine of what may happen to it.

    assigned -> accepted -> contacted -> dispositioned (sql | nurture | recycle | disqualified)
    assigned -> rejected (then, by the reason code: reassigned | recycled | disqualified)
    assigned -> reassigned (an SLA escalation took it away)
    unassigned -> assigned (a rep became available for the pool's queue)

A reassignment opens a new handoff for the same MQL (attempt + 1), so every handoff has one
rep and one SLA clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from handoff_routing.domain.decision import Decision, DecisionStep
from handoff_routing.domain.reasons import FollowUp, ReasonCodes


class HandoffState(StrEnum):
    ASSIGNED = "assigned"
    ACCEPTED = "accepted"
    CONTACTED = "contacted"
    DISPOSITIONED = "dispositioned"
    REJECTED = "rejected"
    REASSIGNED = "reassigned"
    UNASSIGNED = "unassigned"


class Action(StrEnum):
    ACCEPT = "accept"
    REJECT = "reject"
    CONTACT = "contact"
    DISPOSITION = "disposition"


class Outcome(StrEnum):
    SQL = "sql"
    NURTURE = "nurture"
    RECYCLE = "recycle"
    DISQUALIFIED = "disqualified"


# The legal moves by a rep. Anything not listed is a conflict with the current state.
_NEXT: dict[tuple[Action, HandoffState], HandoffState] = {
    (Action.ACCEPT, HandoffState.ASSIGNED): HandoffState.ACCEPTED,
    (Action.REJECT, HandoffState.ASSIGNED): HandoffState.REJECTED,
    (Action.CONTACT, HandoffState.ACCEPTED): HandoffState.CONTACTED,
    (Action.DISPOSITION, HandoffState.CONTACTED): HandoffState.DISPOSITIONED,
}

# Where each action leads: the same rep repeating it (a retried request) changes nothing.
_RESULT: dict[Action, HandoffState] = {
    Action.ACCEPT: HandoffState.ACCEPTED,
    Action.REJECT: HandoffState.REJECTED,
    Action.CONTACT: HandoffState.CONTACTED,
    Action.DISPOSITION: HandoffState.DISPOSITIONED,
}

# What happened to a rejected lead, recorded on the handoff as `follow_up`.
FOLLOWED = {
    FollowUp.REASSIGN: "reassigned",
    FollowUp.RECYCLE: "recycled",
    FollowUp.DISQUALIFY: "disqualified",
}

DEFAULT_RECYCLE_DAYS = 90


@dataclass(slots=True)
class Handoff:
    """One MQL handed to one rep. Actions update it in place."""

    handoff_id: str
    lead_id: str
    mql_id: str
    state: HandoffState
    rep_id: str | None
    pool: str | None
    rule: str
    created_at: datetime
    updated_at: datetime
    assigned_at: datetime | None = None
    decision: tuple[DecisionStep, ...] = ()
    reason_code: str | None = None
    note: str | None = None
    attempt: int = 1
    follow_up: str | None = None
    outcome: str | None = None
    recycle_until: datetime | None = None
    channel: str | None = None
    excluded: tuple[str, ...] = ()  # reps who already had this MQL
    facts: dict[str, Any] = field(default_factory=dict)  # the lead's traits, for re-routing
    trigger: str | None = None
    fit_grade: str | None = None
    next_handoff_id: str | None = None


@dataclass(frozen=True)
class RepAction:
    """A rep's action on a handoff, from the API, a one-click link or a CRM command."""

    action: Action
    handoff_id: str
    rep_id: str
    reason_code: str | None = None
    note: str | None = None
    channel: str | None = None
    outcome: Outcome | None = None
    recycle_after_days: int | None = None


class HandoffNotFound(Exception):
    """A rep acted on a handoff that does not exist (HTTP 404)."""

    def __init__(self, handoff_id: str) -> None:
        super().__init__(f"no handoff {handoff_id!r}")
        self.handoff_id = handoff_id


class UnknownRep(Exception):
    """The acting rep is not on the roster (HTTP 422)."""

    def __init__(self, rep_id: str) -> None:
        super().__init__(f"no rep {rep_id!r} on the roster")
        self.rep_id = rep_id


class HandoffConflict(Exception):
    """The action does not fit the handoff's current state or owner (HTTP 409)."""

    def __init__(self, state: HandoffState, detail: str) -> None:
        super().__init__(detail)
        self.state, self.detail = state, detail


class UnknownReasonCode(Exception):
    """A rejection names a reason code that is not in the configured taxonomy (HTTP 422)."""

    def __init__(self, code: str, known: tuple[str, ...]) -> None:
        super().__init__(f"unknown reason code {code!r}")
        self.code, self.known = code, known


def apply_decision(handoff: Handoff, decision: Decision, at: datetime) -> None:
    """Record where routing sent the lead: a rep (assigned) or a pool's queue (unassigned)."""
    handoff.decision = decision.steps
    handoff.pool = decision.pool
    handoff.rule = decision.rule
    handoff.updated_at = at
    if decision.rep_id is not None:
        handoff.state, handoff.rep_id, handoff.assigned_at = (
            HandoffState.ASSIGNED,
            decision.rep_id,
            at,
        )
    else:
        handoff.state, handoff.rep_id = HandoffState.UNASSIGNED, None


def accept(handoff: Handoff, rep_id: str, at: datetime) -> bool:
    """The assigned rep accepts the lead (it becomes a SAL). False when they already had."""
    return _move(handoff, Action.ACCEPT, rep_id, at)


def contact(handoff: Handoff, rep_id: str, channel: str | None, at: datetime) -> bool:
    """The rep reached the lead (call, email, meeting). False when already recorded."""
    changed = _move(handoff, Action.CONTACT, rep_id, at)
    if changed:
        handoff.channel = channel
    return changed


def disposition(
    handoff: Handoff,
    rep_id: str,
    outcome: Outcome,
    note: str | None,
    at: datetime,
    recycle_after_days: int | None = None,
) -> bool:
    """What sales decided after contact. A recycle sets when marketing may try again."""
    if handoff.state is HandoffState.DISPOSITIONED and handoff.rep_id == rep_id:
        if handoff.outcome != outcome:
            raise HandoffConflict(
                handoff.state,
                f"Handoff {handoff.handoff_id} was already dispositioned as {handoff.outcome!r}.",
            )
        return False
    changed = _move(handoff, Action.DISPOSITION, rep_id, at)
    if changed:
        handoff.outcome, handoff.note = str(outcome), note
        if outcome is Outcome.RECYCLE:
            handoff.recycle_until = at + timedelta(days=recycle_after_days or DEFAULT_RECYCLE_DAYS)
    return changed


def reject(
    handoff: Handoff,
    rep_id: str,
    reason_code: str,
    note: str | None,
    at: datetime,
    reasons: ReasonCodes,
) -> bool:
    """The assigned rep rejects the lead with a reason; the reason's follow-up is recorded.

    False when it repeats a rejection already made by the same rep with the same code.
    """
    reason = reasons.get(reason_code)
    if reason is None:
        raise UnknownReasonCode(reason_code, reasons.known())
    if (
        handoff.state is HandoffState.REJECTED
        and handoff.rep_id == rep_id
        and handoff.reason_code != reason_code
    ):
        raise HandoffConflict(
            handoff.state,
            f"Handoff {handoff.handoff_id} was already rejected "
            f"with reason code {handoff.reason_code!r}.",
        )
    changed = _move(handoff, Action.REJECT, rep_id, at)
    if changed:
        handoff.reason_code, handoff.note = reason_code, note
        handoff.follow_up = FOLLOWED[reason.follow_up]
        if reason.follow_up is FollowUp.RECYCLE:
            days = reason.recycle_days or DEFAULT_RECYCLE_DAYS
            handoff.recycle_until = at + timedelta(days=days)
    return changed


def take_away(handoff: Handoff, at: datetime) -> bool:
    """An SLA escalation reassigns the lead. False (ignored) unless it still waits on its rep:
    an escalation that crossed an accept in flight must not undo the accept."""
    if handoff.state is not HandoffState.ASSIGNED:
        return False
    handoff.state = HandoffState.REASSIGNED
    handoff.follow_up = "reassigned"
    handoff.updated_at = at
    return True


def successor(handoff: Handoff, handoff_id: str, at: datetime) -> Handoff:
    """The next handoff of the same MQL, leaving out every rep who already had it."""
    excluded = handoff.excluded + ((handoff.rep_id,) if handoff.rep_id else ())
    handoff.next_handoff_id = handoff_id
    return Handoff(
        handoff_id=handoff_id,
        lead_id=handoff.lead_id,
        mql_id=handoff.mql_id,
        state=HandoffState.UNASSIGNED,
        rep_id=None,
        pool=handoff.pool,
        rule=handoff.rule,
        created_at=at,
        updated_at=at,
        attempt=handoff.attempt + 1,
        excluded=tuple(dict.fromkeys(excluded)),
        facts=handoff.facts,
        trigger=handoff.trigger,
        fit_grade=handoff.fit_grade,
    )


def _move(handoff: Handoff, action: Action, rep_id: str, at: datetime) -> bool:
    if handoff.rep_id is None:
        raise HandoffConflict(
            handoff.state,
            f"Handoff {handoff.handoff_id} is {handoff.state}: no rep holds it to {action}.",
        )
    if handoff.rep_id != rep_id:
        raise HandoffConflict(
            handoff.state,
            f"Handoff {handoff.handoff_id} is {handoff.state} and belongs to another rep.",
        )
    if handoff.state is _RESULT[action]:
        return False
    following = _NEXT.get((action, handoff.state))
    if following is None:
        raise HandoffConflict(
            handoff.state,
            f"Handoff {handoff.handoff_id} is {handoff.state}; it cannot be {_RESULT[action]} now.",
        )
    handoff.state = following
    handoff.updated_at = at
    return True
