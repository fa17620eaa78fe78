"""The handoff of one MQL to one rep, and the state machine of what the rep may do with it.

States today: assigned -> accepted | rejected, and unassigned when nobody was
available. contacted and dispositioned join later as new rows in `_NEXT`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from handoff_routing.domain.decision import DecisionStep
from handoff_routing.domain.reasons import ReasonCodes


class HandoffState(StrEnum):
    ASSIGNED = "assigned"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    UNASSIGNED = "unassigned"


class Action(StrEnum):
    ACCEPT = "accept"
    REJECT = "reject"


# The legal moves. Anything not listed is a conflict with the current state.
_NEXT: dict[tuple[Action, HandoffState], HandoffState] = {
    (Action.ACCEPT, HandoffState.ASSIGNED): HandoffState.ACCEPTED,
    (Action.REJECT, HandoffState.ASSIGNED): HandoffState.REJECTED,
}

# Where each action leads: a rep repeating it (a retried request) changes nothing.
_RESULT: dict[Action, HandoffState] = {
    Action.ACCEPT: HandoffState.ACCEPTED,
    Action.REJECT: HandoffState.REJECTED,
}


@dataclass(slots=True)
class Handoff:
    """One MQL handed to a rep. Actions update it in place."""

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


def accept(handoff: Handoff, rep_id: str, at: datetime) -> bool:
    """The assigned rep accepts the lead (it becomes a SAL). False when they already had."""
    return _move(handoff, Action.ACCEPT, rep_id, at)


def reject(
    handoff: Handoff,
    rep_id: str,
    reason_code: str,
    note: str | None,
    at: datetime,
    reasons: ReasonCodes,
) -> bool:
    """The assigned rep rejects the lead with a reason marketing learns from; False if repeated."""
    if reason_code not in reasons:
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
    return changed


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
