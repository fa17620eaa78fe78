"""SLA policies and timers: which policy a routing event arms, and how a stop ends the timer.

The handler owns the timers of one batch; the functions here decide, in event order,
what happens to them. A stop that arrives before its start leaves a tombstone (a
timer row with no due time), so the late start finds the stage taken and arms nothing.
A later start naming another rep (a reassignment) re-arms the stage for the new rep.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

from handoff_sla_watch.domain.calendar import WALL_CLOCK, Clock

STAGES = ("accept", "first_contact", "status_update")
ACTIONS = ("remind", "escalate_to_manager", "reassign")
# What a policy condition may ask about the handoff (all strings; "" when unknown).
CONDITION_FIELDS = ("pool", "mql_trigger", "fit_grade", "team", "rep_id", "stage")


class TimerState(StrEnum):
    PENDING = "pending"
    BREACHED = "breached"
    MET = "met"
    CANCELLED = "cancelled"


class Condition(Protocol):
    def holds(self, context: Mapping[str, object]) -> bool: ...


@dataclass(frozen=True, slots=True)
class Escalation:
    """One step of a chain: `after` the breach (in the policy's calendar), do `action`."""

    after: timedelta
    action: str
    target: str | None = None  # None: the rep, the manager or the pool, as the action implies


@dataclass(frozen=True)
class Policy:
    """One agreement: after `starts_on`, one of `stops_on` must happen `within` the duration."""

    name: str
    stage: str
    starts_on: str
    stops_on: frozenset[str]
    within: timedelta
    clock: Clock = WALL_CLOCK
    when: Condition | None = None
    warn_at: float | None = None  # a fraction of `within`, e.g. 0.75
    escalations: tuple[Escalation, ...] = ()

    def starts(self, event_type: str) -> bool:
        return event_type == self.starts_on

    def stops(self, event_type: str) -> bool:
        return event_type in self.stops_on

    def applies_to(self, context: Mapping[str, object]) -> bool:
        return self.when is None or self.when.holds(context)


@dataclass(frozen=True, slots=True)
class Assignment:
    """What routing said about a handoff when it assigned it; policies choose on it."""

    pool: str | None = None
    mql_trigger: str | None = None
    fit_grade: str | None = None
    team: str | None = None
    manager_id: str | None = None


@dataclass(frozen=True, slots=True)
class Start:
    """A routing event that starts the clock, such as a lead assigned to a rep."""

    lead_id: str
    handoff_id: str
    rep_id: str | None
    at: datetime
    assignment: Assignment = field(default_factory=Assignment)

    @property
    def pool(self) -> str | None:
        return self.assignment.pool


@dataclass(frozen=True, slots=True)
class Stop:
    """A routing event that stops the clock; `rep_id` is the rep the event names, if any."""

    lead_id: str
    handoff_id: str
    rep_id: str | None
    at: datetime


@dataclass(slots=True)
class Timer:
    """The state of one handoff's stage. A tombstone has neither start nor due time.

    `next_at` is when the firer must next look at it (the warning point, the due time or
    the next escalation step); None once nothing more can fire. `escalation_level` counts
    the escalation steps fired so far.
    """

    timer_id: str
    lead_id: str
    handoff_id: str
    policy: str
    stage: str
    state: TimerState
    rep_id: str | None = None
    pool: str | None = None
    started_at: datetime | None = None
    due_at: datetime | None = None
    fired_at: datetime | None = None
    stopped_at: datetime | None = None
    next_at: datetime | None = None
    escalation_level: int = 0
    attempts: int = 0
    mql_trigger: str | None = None
    fit_grade: str | None = None
    team: str | None = None
    manager_id: str | None = None

    @property
    def is_tombstone(self) -> bool:
        return self.due_at is None

    @property
    def is_running(self) -> bool:
        return self.state in (TimerState.PENDING, TimerState.BREACHED) and not self.is_tombstone

    @property
    def assignment(self) -> Assignment:
        return Assignment(self.pool, self.mql_trigger, self.fit_grade, self.team, self.manager_id)


@dataclass(frozen=True, slots=True)
class Met:
    """The rep answered in time: what the `handoff.sla.met` event reports."""

    timer: Timer
    met_at: datetime
    wall_seconds: float
    business_seconds: float


def condition_context(stage: str, rep_id: str | None, a: Assignment) -> dict[str, object]:
    return {
        "pool": a.pool or "",
        "mql_trigger": a.mql_trigger or "",
        "fit_grade": a.fit_grade or "",
        "team": a.team or "",
        "rep_id": rep_id or "",
        "stage": stage,
    }


def choose_policy(candidates: list[Policy], start: Start) -> Policy | None:
    """The first of a stage's policies (in file order) whose condition holds for this handoff."""
    for policy in candidates:
        if policy.applies_to(condition_context(policy.stage, start.rep_id, start.assignment)):
            return policy
    return None


def _may_arm(existing: Timer | None, start: Start) -> bool:
    """Whether `start` arms the stage given what the stage already holds.

    - nothing yet: arm;
    - a tombstone: only a start after the stop that left it (the late original start is
      older than the stop, so it arms nothing);
    - a running timer: only a later start naming another rep (a reassignment that came
      without a stop); a replay has the same time and is ignored;
    - an ended timer: only a start later than its start and not before its end (a
      reassignment after the stop).
    """
    if existing is None:
        return True
    if existing.is_tombstone:
        return existing.stopped_at is not None and start.at > existing.stopped_at
    assert existing.started_at is not None
    if start.at <= existing.started_at:
        return False
    if existing.is_running:
        return start.rep_id != existing.rep_id
    return existing.stopped_at is None or start.at >= existing.stopped_at


def first_step_at(policy: Policy, started_at: datetime, due_at: datetime) -> datetime:
    """The warning point if the policy has one, else the due time."""
    if policy.warn_at is None:
        return due_at
    return policy.clock.add(started_at, policy.within * policy.warn_at)


def start_timer(
    existing: Timer | None, policy: Policy, start: Start, timer_id: str
) -> Timer | None:
    """A pending timer due `within` (business time) after the start, or None if not armed."""
    if not _may_arm(existing, start):
        return None
    due_at = policy.clock.add(start.at, policy.within)
    a = start.assignment
    return Timer(
        timer_id=timer_id,
        lead_id=start.lead_id,
        handoff_id=start.handoff_id,
        policy=policy.name,
        stage=policy.stage,
        state=TimerState.PENDING,
        rep_id=start.rep_id,
        pool=a.pool,
        started_at=start.at,
        due_at=due_at,
        next_at=first_step_at(policy, start.at, due_at),
        attempts=existing.attempts if existing is not None else 0,
        mql_trigger=a.mql_trigger,
        fit_grade=a.fit_grade,
        team=a.team,
        manager_id=a.manager_id,
    )


def stop_timer(timer: Timer, stop: Stop, clock: Clock = WALL_CLOCK) -> Met | None:
    """End the timer; return Met when the assigned rep answered no later than the due time.

    Anything else cancels it: the answer came late, or another rep's event (a
    reassignment) ended it. A breach already fired stays visible through `fired_at`;
    cancelling closes it and ends its escalation chain. A timer that has already ended,
    or a tombstone, is left alone.
    """
    if not timer.is_running:
        return None
    assert timer.started_at is not None and timer.due_at is not None
    timer.stopped_at = stop.at
    timer.next_at = None
    answered_by_rep = timer.rep_id is None or stop.rep_id == timer.rep_id
    if timer.state is TimerState.PENDING and stop.at <= timer.due_at and answered_by_rep:
        timer.state = TimerState.MET
        wall = max(0.0, (stop.at - timer.started_at).total_seconds())
        business = clock.seconds_between(timer.started_at, stop.at)
        return Met(timer=timer, met_at=stop.at, wall_seconds=wall, business_seconds=business)
    timer.state = TimerState.CANCELLED
    return None


def tombstone(policy: Policy, stop: Stop, timer_id: str) -> Timer:
    """The mark a stop leaves when its start has not arrived, so a late start arms nothing."""
    return Timer(
        timer_id=timer_id,
        lead_id=stop.lead_id,
        handoff_id=stop.handoff_id,
        policy=policy.name,
        stage=policy.stage,
        state=TimerState.CANCELLED,
        rep_id=stop.rep_id,
        stopped_at=stop.at,
    )


def late_by_seconds(due_at: datetime, fired_at: datetime) -> float:
    """How long after its due time a breach fired; downtime shows here."""
    return max(0.0, (fired_at - due_at).total_seconds())
