"""The facts of an event that subscriptions filter on, and what notify remembers of a handoff."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from handoff_notify.domain.subscriptions import Facts

ASSIGNED = "handoff.lead.assigned"


@dataclass(frozen=True, slots=True)
class HandoffSeen:
    """A handoff as its assignment described it; later events name only its id."""

    handoff_id: str
    lead_id: str
    rep_id: str | None
    pool: str | None
    team: str | None
    manager_id: str | None
    assigned_at: datetime | None
    mql_id: str | None = None
    previous_rep_id: str | None = None  # this handoff replaced one of this rep's
    # From the MQL, when notify saw it (handoff.scoring.v1): for the new-lead notice.
    reason: str | None = None
    lead_name: str | None = None
    company_name: str | None = None
    # From handoff.sla.started of the accept stage: when the rep must accept by.
    accept_due_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class MqlSeen:
    mql_id: str
    lead_id: str
    reason: str | None
    lead_name: str | None
    company_name: str | None


def mql_of(event_type: str, data: Mapping[str, Any]) -> MqlSeen | None:
    if event_type != "handoff.lead.mql":
        return None
    mql_id, lead_id = _text(data, "mql_id"), _text(data, "lead_id")
    if mql_id is None or lead_id is None:
        return None
    traits = _mapping(data.get("traits"))
    company = _mapping(traits.get("company"))
    return MqlSeen(
        mql_id, lead_id, _text(data, "reason"), _text(traits, "name"), _text(company, "name")
    )


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _text(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    return value if isinstance(value, str) and value else None


def handoff_of_assignment(
    event_type: str, data: Mapping[str, Any], at: datetime
) -> HandoffSeen | None:
    if event_type != ASSIGNED:
        return None
    handoff_id, lead_id = _text(data, "handoff_id"), _text(data, "lead_id")
    if handoff_id is None or lead_id is None:
        return None
    return HandoffSeen(
        handoff_id,
        lead_id,
        _text(data, "rep_id"),
        _text(data, "pool"),
        _text(data, "team"),
        _text(data, "manager_id"),
        at,
        _text(data, "mql_id"),
    )


REASSIGNED = "handoff.lead.reassigned"
SLA_STARTED = "handoff.sla.started"
ACCEPT_STAGE = "accept"


@dataclass(frozen=True, slots=True)
class AcceptDue:
    """An accept-stage timer armed: the due time the new-lead notice names."""

    handoff_id: str
    lead_id: str
    due_at: datetime


def accept_due_of(event_type: str, data: Mapping[str, Any]) -> AcceptDue | None:
    if event_type != SLA_STARTED or _text(data, "stage") != ACCEPT_STAGE:
        return None
    handoff_id, lead_id, due = _text(data, "handoff_id"), _text(data, "lead_id"), data.get("due_at")
    if handoff_id is None or lead_id is None or not isinstance(due, str):
        return None
    try:
        due_at = datetime.fromisoformat(due.replace("Z", "+00:00"))
    except ValueError:
        return None
    return AcceptDue(handoff_id, lead_id, due_at)


@dataclass(frozen=True, slots=True)
class Reassignment:
    """A handoff taken from a rep; the new handoff (and its rep) follows as an assignment."""

    new_handoff_id: str
    lead_id: str
    previous_rep_id: str


def reassignment_of(event_type: str, data: Mapping[str, Any]) -> Reassignment | None:
    if event_type != REASSIGNED:
        return None
    new, lead = _text(data, "new_handoff_id"), _text(data, "lead_id")
    previous = _text(data, "previous_rep_id") or _text(data, "rep_id")
    if new is None or lead is None or previous is None:
        return None
    return Reassignment(new, lead, previous)


def facts_of(event_id: str, event_type: str, data: Any, known: Mapping[str, HandoffSeen]) -> Facts:
    """The event's own fields first; pool, team and rep from its handoff's assignment else."""
    if not isinstance(data, Mapping):
        return Facts(event_id=event_id, type=event_type)
    handoff_id = _text(data, "handoff_id")
    seen = known.get(handoff_id) if handoff_id else None
    return Facts(
        event_id=event_id,
        type=event_type,
        lead_id=_text(data, "lead_id"),
        handoff_id=handoff_id,
        rep_id=_text(data, "rep_id") or (seen.rep_id if seen else None),
        pool=_text(data, "pool") or (seen.pool if seen else None),
        team=_text(data, "team") or (seen.team if seen else None),
    )
