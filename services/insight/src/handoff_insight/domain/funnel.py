"""One funnel row per MQL, folded from facts that may arrive in any order.

Every fold step is commutative and idempotent on its own field (first time = min, latest
= max with a fixed tie-break, sets union, SLA met = the earliest), so the same facts in
any order give the same row. Counting escalations is the one sum; the inbox guarantees
each escalation event is applied once.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

# The SLA stages that get their own KPI columns; a custom stage is counted as "other".
STAGES = ("accept", "first_contact", "status_update")
DISPOSITIONS = ("sql", "nurture", "recycle", "disqualified")


@dataclass(frozen=True, slots=True)
class Qualified:
    """handoff.lead.mql: the MQL and what scoring knew of it."""

    mql_id: str
    lead_id: str
    cycle: int
    qualified_at: datetime
    score: int
    fit_grade: str | None
    trigger_kind: str
    trigger_rule: str
    rules: tuple[str, ...]  # the scoring rules whose points contributed
    source: str | None
    campaign: str | None


@dataclass(frozen=True, slots=True)
class Assigned:
    mql_id: str
    handoff_id: str
    rep_id: str
    pool: str
    team: str | None
    at: datetime


@dataclass(frozen=True, slots=True)
class Accepted:
    handoff_id: str
    at: datetime


@dataclass(frozen=True, slots=True)
class Rejected:
    handoff_id: str
    at: datetime
    reason_code: str


@dataclass(frozen=True, slots=True)
class Contacted:
    handoff_id: str
    at: datetime


@dataclass(frozen=True, slots=True)
class Dispositioned:
    handoff_id: str
    at: datetime
    outcome: str


@dataclass(frozen=True, slots=True)
class Recycled:
    handoff_id: str
    at: datetime


@dataclass(frozen=True, slots=True)
class SlaMet:
    handoff_id: str
    stage: str
    at: datetime
    wall_seconds: float
    business_seconds: float


@dataclass(frozen=True, slots=True)
class SlaBreached:
    handoff_id: str
    stage: str
    at: datetime


@dataclass(frozen=True, slots=True)
class SlaEscalated:
    handoff_id: str
    stage: str
    level: int
    at: datetime


HandoffFact = (
    Accepted | Rejected | Contacted | Dispositioned | Recycled | SlaMet | SlaBreached | SlaEscalated
)
Fact = Qualified | Assigned | HandoffFact


@dataclass(frozen=True, slots=True)
class FunnelRow:
    """Everything known of one MQL (cycle): scoring, routing and SLA facts."""

    mql_id: str
    lead_id: str | None = None
    cycle: int | None = None
    qualified_at: datetime | None = None  # None until the MQL event itself arrives
    score: int | None = None
    fit_grade: str | None = None
    trigger_kind: str | None = None
    trigger_rule: str | None = None
    rules: tuple[str, ...] = ()
    source: str | None = None
    campaign: str | None = None
    handoff_id: str | None = None  # of the latest assignment
    pool: str | None = None
    rep_id: str | None = None
    team: str | None = None
    assigned_at: datetime | None = None  # the first assignment
    last_assigned_at: datetime | None = None
    accepted_at: datetime | None = None  # the first acceptance: the SAL
    rejected_at: datetime | None = None  # the latest rejection
    reason_code: str | None = None
    contacted_at: datetime | None = None  # the first contact
    disposition: str | None = None  # the latest disposition
    dispositioned_at: datetime | None = None
    recycled_at: datetime | None = None
    sla_met: dict[str, tuple[float, float]] = field(default_factory=dict)  # stage -> wall, business
    sla_met_at: dict[str, datetime] = field(default_factory=dict)
    sla_breached: frozenset[str] = frozenset()
    escalations: int = 0
    escalation_level: int = 0

    @property
    def decision(self) -> str | None:
        """accepted or rejected: the later of the two when a reassignment brought both."""
        if self.accepted_at is None:
            return "rejected" if self.rejected_at is not None else None
        if self.rejected_at is not None and self.rejected_at > self.accepted_at:
            return "rejected"
        return "accepted"

    @property
    def is_sql(self) -> bool:
        return self.disposition == "sql"

    @property
    def is_recycled(self) -> bool:
        return self.disposition == "recycle" or self.recycled_at is not None


def _min(a: datetime | None, b: datetime) -> datetime:
    return b if a is None or b < a else a


def _later(
    current: tuple[datetime, str] | None, candidate: tuple[datetime, str]
) -> tuple[datetime, str]:
    """The later of two (time, value) pairs; equal times pick the larger value, so order never matters."""
    return candidate if current is None or candidate > current else current


_ROW_FIELDS = tuple(f.name for f in fields(FunnelRow))


def apply(row: FunnelRow, fact: Fact) -> FunnelRow:
    """The row with one more fact folded in."""
    return fold(row, [fact])


def fold(row: FunnelRow, facts: list[Fact]) -> FunnelRow:
    """The row with the facts folded in, in order. The fields are folded in a plain dict and
    the row is built once: a copy of the frozen row per fact is the hot loop's main cost."""
    if not facts:
        return row
    values = {name: getattr(row, name) for name in _ROW_FIELDS}
    for fact in facts:
        _fold_into(values, fact)
    return FunnelRow(**values)


def _fold_into(row: dict[str, Any], fact: Fact) -> None:
    """Fold one fact into the row's fields (a dict of FunnelRow's fields, changed in place)."""
    match fact:
        case Qualified():
            row.update(
                lead_id=fact.lead_id,
                cycle=fact.cycle,
                qualified_at=fact.qualified_at,
                score=fact.score,
                fit_grade=fact.fit_grade,
                trigger_kind=fact.trigger_kind,
                trigger_rule=fact.trigger_rule,
                rules=fact.rules,
                source=fact.source,
                campaign=fact.campaign,
            )
        case Assigned():
            _fold_assigned(row, fact)
        case Accepted():
            row["accepted_at"] = _min(row["accepted_at"], fact.at)
        case Rejected():
            current = (
                (row["rejected_at"], row["reason_code"] or "")
                if row["rejected_at"] is not None
                else None
            )
            row["rejected_at"], row["reason_code"] = _later(current, (fact.at, fact.reason_code))
        case Contacted():
            row["contacted_at"] = _min(row["contacted_at"], fact.at)
        case Dispositioned():
            current = (
                (row["dispositioned_at"], row["disposition"] or "")
                if row["dispositioned_at"] is not None
                else None
            )
            row["dispositioned_at"], row["disposition"] = _later(current, (fact.at, fact.outcome))
        case Recycled():
            recycled = row["recycled_at"]
            row["recycled_at"] = fact.at if recycled is None else max(recycled, fact.at)
        case SlaMet():
            _fold_sla_met(row, fact)
        case SlaBreached():
            row["sla_breached"] = row["sla_breached"] | {fact.stage}
        case SlaEscalated():
            row["escalations"] += 1
            row["escalation_level"] = max(row["escalation_level"], fact.level)
        case _:
            raise TypeError(f"not a funnel fact: {fact!r}")


def _fold_assigned(row: dict[str, Any], fact: Assigned) -> None:
    """The first assignment's time; the latest assignment's handoff, rep, pool and team."""
    current = (
        (row["last_assigned_at"], row["handoff_id"])
        if row["last_assigned_at"] is not None and row["handoff_id"] is not None
        else None
    )
    latest = _later(current, (fact.at, fact.handoff_id))
    row["assigned_at"] = _min(row["assigned_at"], fact.at)
    if latest != current:
        row.update(
            handoff_id=fact.handoff_id,
            last_assigned_at=fact.at,
            rep_id=fact.rep_id,
            pool=fact.pool,
            team=fact.team,
        )


def _fold_sla_met(row: dict[str, Any], fact: SlaMet) -> None:
    """The earliest time a stage was met, with its elapsed times."""
    before = row["sla_met_at"].get(fact.stage)
    new = (fact.at, fact.wall_seconds, fact.business_seconds)
    if before is not None and (before, *row["sla_met"][fact.stage]) <= new:
        return
    # New dicts: the row folded from may share the old ones.
    row["sla_met"] = {
        **row["sla_met"],
        fact.stage: (fact.wall_seconds, fact.business_seconds),
    }
    row["sla_met_at"] = {**row["sla_met_at"], fact.stage: fact.at}


def sla_outcome(row: FunnelRow, stage: str) -> str | None:
    """met, breached or None. A breach stands even if the rep answered late."""
    if stage in row.sla_breached:
        return "breached"
    if stage in row.sla_met:
        return "met"
    return None
