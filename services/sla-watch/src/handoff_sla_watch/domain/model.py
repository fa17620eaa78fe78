"""SLA policies and timers: when a routing event arms a timer, and how a stop ends it.

The handler owns the timers of one batch; the functions here decide, in event order,
what happens to them. A stop that arrives before its start leaves a tombstone (a
timer row with no due time), so the late start finds the stage taken and arms nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

STAGES = ("accept", "first_contact", "status_update")


class TimerState(StrEnum):
    PENDING = "pending"
    BREACHED = "breached"
    MET = "met"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class Policy:
    """One agreement: after `starts_on`, one of `stops_on` must happen `within` the duration."""

    name: str
    stage: str
    starts_on: str
    stops_on: frozenset[str]
    within: timedelta

    def starts(self, event_type: str) -> bool:
        return event_type == self.starts_on

    def stops(self, event_type: str) -> bool:
        return event_type in self.stops_on


@dataclass(frozen=True, slots=True)
class Start:
    """A routing event that starts the clock, such as a lead assigned to a rep."""

    lead_id: str
    handoff_id: str
    rep_id: str | None
    pool: str | None
    at: datetime


@dataclass(frozen=True, slots=True)
class Stop:
    """A routing event that stops the clock; `rep_id` is the rep the event names, if any."""

    lead_id: str
    handoff_id: str
    rep_id: str | None
    at: datetime


@dataclass(slots=True)
class Timer:
    """The state of one handoff's stage. A tombstone has neither start nor due time."""

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

    @property
    def is_tombstone(self) -> bool:
        return self.due_at is None


@dataclass(frozen=True, slots=True)
class Met:
    """The rep answered in time: what the `handoff.sla.met` event reports."""

    timer: Timer
    met_at: datetime
    wall_seconds: float
    business_seconds: float


def start_timer(
    existing: Timer | None, policy: Policy, start: Start, timer_id: str
) -> Timer | None:
    """A pending timer due `policy.within` after the start, or None if the stage is already taken.

    A timer of the same handoff and stage already exists after a replay, and a
    tombstone exists when the stop came first; neither may be armed again.
    """
    if existing is not None:
        return None
    return Timer(
        timer_id=timer_id,
        lead_id=start.lead_id,
        handoff_id=start.handoff_id,
        policy=policy.name,
        stage=policy.stage,
        state=TimerState.PENDING,
        rep_id=start.rep_id,
        pool=start.pool,
        started_at=start.at,
        due_at=start.at + policy.within,
    )


def stop_timer(timer: Timer, stop: Stop) -> Met | None:
    """End the timer; return Met when the assigned rep answered no later than the due time.

    Anything else cancels it: the answer came late, or another rep's event (a
    reassignment) ended it. A breach already fired stays visible through `fired_at`;
    cancelling closes it. A timer that has already ended, or a tombstone, is left alone.
    """
    if timer.state not in (TimerState.PENDING, TimerState.BREACHED) or timer.is_tombstone:
        return None
    assert timer.started_at is not None and timer.due_at is not None
    timer.stopped_at = stop.at
    answered_by_rep = timer.rep_id is None or stop.rep_id == timer.rep_id
    if timer.state is TimerState.PENDING and stop.at <= timer.due_at and answered_by_rep:
        timer.state = TimerState.MET
        wall = max(0.0, (stop.at - timer.started_at).total_seconds())
        # Business calendars are not built yet (issue 6): business time is wall time.
        return Met(timer=timer, met_at=stop.at, wall_seconds=wall, business_seconds=wall)
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
