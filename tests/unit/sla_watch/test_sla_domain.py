"""The SLA domain: arming timers, and how a stop ends one (met, cancelled, tombstone)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from handoff_sla_watch.domain.model import (
    Assignment,
    Policy,
    Start,
    Stop,
    Timer,
    TimerState,
    late_by_seconds,
    start_timer,
    stop_timer,
    tombstone,
)

T0 = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
ACCEPT = Policy(
    name="accept-within",
    stage="accept",
    starts_on="handoff.lead.assigned",
    stops_on=frozenset(
        {"handoff.lead.accepted", "handoff.lead.rejected", "handoff.lead.reassigned"}
    ),
    within=timedelta(hours=24),
)


def assigned(at: datetime = T0, rep_id: str = "rep-1") -> Start:
    return Start(
        lead_id="L-1", handoff_id="H-1", rep_id=rep_id, at=at, assignment=Assignment(pool="emea")
    )


def answered(at: datetime, rep_id: str = "rep-1") -> Stop:
    return Stop(lead_id="L-1", handoff_id="H-1", rep_id=rep_id, at=at)


def armed(at: datetime = T0) -> Timer:
    timer = start_timer(None, ACCEPT, assigned(at), "timer-1")
    assert timer is not None
    return timer


def test_an_assignment_arms_a_pending_timer_due_after_the_policy_duration() -> None:
    timer = armed()
    assert timer.state is TimerState.PENDING
    assert timer.started_at == T0
    assert timer.due_at == T0 + timedelta(hours=24)
    assert (timer.rep_id, timer.pool, timer.policy, timer.stage) == (
        "rep-1",
        "emea",
        "accept-within",
        "accept",
    )


def test_a_replayed_assignment_does_not_arm_the_stage_again() -> None:
    assert start_timer(armed(), ACCEPT, assigned(T0 + timedelta(minutes=5)), "timer-1") is None


def test_an_accept_before_the_due_time_meets_the_sla_with_its_elapsed_time() -> None:
    timer = armed()
    met = stop_timer(timer, answered(T0 + timedelta(hours=2)))
    assert met is not None
    assert timer.state is TimerState.MET
    assert met.wall_seconds == 7200
    assert met.business_seconds == met.wall_seconds  # a policy without a calendar


def test_an_accept_exactly_at_the_due_time_still_meets_the_sla() -> None:
    timer = armed()
    assert stop_timer(timer, answered(T0 + timedelta(hours=24))) is not None


def test_an_accept_after_the_due_time_cancels_the_timer_without_meeting_it() -> None:
    timer = armed()
    assert stop_timer(timer, answered(T0 + timedelta(hours=25))) is None
    assert timer.state is TimerState.CANCELLED
    assert timer.stopped_at == T0 + timedelta(hours=25)


def test_a_reassignment_in_time_cancels_because_the_assigned_rep_never_answered() -> None:
    timer = armed()
    assert stop_timer(timer, answered(T0 + timedelta(hours=1), rep_id="rep-2")) is None
    assert timer.state is TimerState.CANCELLED


def test_an_answer_after_a_breach_closes_it_and_keeps_when_it_fired() -> None:
    timer = armed()
    timer.state, timer.fired_at = TimerState.BREACHED, T0 + timedelta(hours=24)
    assert stop_timer(timer, answered(T0 + timedelta(hours=30))) is None
    assert timer.state is TimerState.CANCELLED
    assert timer.fired_at == T0 + timedelta(hours=24)


def test_a_second_stop_leaves_a_met_timer_alone() -> None:
    timer = armed()
    stop_timer(timer, answered(T0 + timedelta(hours=1)))
    assert stop_timer(timer, answered(T0 + timedelta(hours=2), rep_id="rep-2")) is None
    assert timer.state is TimerState.MET
    assert timer.stopped_at == T0 + timedelta(hours=1)


def test_a_stop_before_its_start_leaves_a_tombstone_that_a_late_start_cannot_arm() -> None:
    mark = tombstone(ACCEPT, answered(T0), "timer-1")
    assert mark.is_tombstone
    assert mark.state is TimerState.CANCELLED
    assert mark.started_at is None
    assert start_timer(mark, ACCEPT, assigned(T0 - timedelta(seconds=1)), "timer-1") is None
    assert stop_timer(mark, answered(T0 + timedelta(seconds=1))) is None


def test_lateness_is_how_long_after_the_due_time_a_breach_fired() -> None:
    assert late_by_seconds(T0, T0 + timedelta(hours=3)) == 10800
    assert late_by_seconds(T0, T0 - timedelta(seconds=1)) == 0


def test_a_policy_knows_which_events_start_and_stop_it() -> None:
    assert ACCEPT.starts("handoff.lead.assigned")
    assert not ACCEPT.stops("handoff.lead.assigned")
    assert ACCEPT.stops("handoff.lead.rejected")
    assert not ACCEPT.starts("handoff.lead.contacted") and not ACCEPT.stops(
        "handoff.lead.contacted"
    )
