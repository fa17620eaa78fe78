"""Policy choice, re-arming on reassignment, and the warning / breach / escalation chain."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from handoff.expressions import compile_condition
from handoff_sla_watch.adapters.metrics import BREACHES, ESCALATIONS, WARNINGS
from handoff_sla_watch.config import MatchCondition
from handoff_sla_watch.domain.firing import fire
from handoff_sla_watch.domain.model import (
    CONDITION_FIELDS,
    Assignment,
    Escalation,
    Policy,
    Start,
    Stop,
    Timer,
    TimerState,
    choose_policy,
    start_timer,
    stop_timer,
    tombstone,
)
from handoff_sla_watch.service_layer.firing import Firing

T0 = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)
STOPS = frozenset({"handoff.lead.accepted", "handoff.lead.reassigned"})
CHAIN = Policy(
    name="accept-within",
    stage="accept",
    starts_on="handoff.lead.assigned",
    stops_on=STOPS,
    within=timedelta(hours=4),
    warn_at=0.75,
    escalations=(
        Escalation(timedelta(0), "remind"),
        Escalation(timedelta(hours=4), "escalate_to_manager"),
        Escalation(timedelta(hours=8), "reassign"),
    ),
)
DEMO = Policy(
    name="accept-demo",
    stage="accept",
    starts_on="handoff.lead.assigned",
    stops_on=STOPS,
    within=timedelta(minutes=30),
    when=MatchCondition({"mql_trigger": ["activity"]}),
)
TOP_FIT = Policy(
    name="accept-top-fit",
    stage="accept",
    starts_on="handoff.lead.assigned",
    stops_on=STOPS,
    within=timedelta(hours=1),
    when=compile_condition('fit_grade == "A" && pool == "emea"', CONDITION_FIELDS),
)
ASSIGNMENT = Assignment(pool="emea", mql_trigger="threshold", fit_grade="B", manager_id="boss")


def start(at: datetime = T0, rep: str = "rep-1", a: Assignment = ASSIGNMENT) -> Start:
    return Start("L-1", "H-1", rep, at, a)


def armed(policy: Policy = CHAIN, at: datetime = T0) -> Timer:
    timer = start_timer(None, policy, start(at), "timer-1")
    assert timer is not None
    return timer


def kinds(steps: list) -> list[str]:  # type: ignore[type-arg]
    return [s.kind if s.kind != "escalated" else f"{s.action}->{s.target}" for s in steps]


def test_a_demo_request_gets_the_tighter_policy_and_others_fall_through() -> None:
    policies = [DEMO, TOP_FIT, CHAIN]
    assert choose_policy(policies, start(a=Assignment(mql_trigger="activity"))) is DEMO
    top = Assignment(pool="emea", fit_grade="A", mql_trigger="threshold")
    assert choose_policy(policies, start(a=top)) is TOP_FIT
    assert choose_policy(policies, start()) is CHAIN
    assert choose_policy([DEMO, TOP_FIT], start()) is None


def test_the_first_step_is_the_warning_point_at_its_share_of_the_duration() -> None:
    timer = armed()
    assert timer.due_at == T0 + timedelta(hours=4)
    assert timer.next_at == T0 + timedelta(hours=3)


def test_the_chain_fires_warning_breach_then_each_escalation_at_its_time() -> None:
    timer = armed()
    assert fire(timer, CHAIN, T0 + timedelta(hours=2)) == []
    assert kinds(fire(timer, CHAIN, T0 + timedelta(hours=3))) == ["warning"]
    assert timer.next_at == T0 + timedelta(hours=4)
    assert kinds(fire(timer, CHAIN, T0 + timedelta(hours=4))) == ["breached", "remind->rep-1"]
    assert timer.state is TimerState.BREACHED and timer.escalation_level == 1
    assert timer.next_at == T0 + timedelta(hours=8)
    assert kinds(fire(timer, CHAIN, T0 + timedelta(hours=8))) == ["escalate_to_manager->boss"]
    assert kinds(fire(timer, CHAIN, T0 + timedelta(hours=12))) == ["reassign->emea"]
    assert timer.next_at is None and timer.escalation_level == 3
    assert fire(timer, CHAIN, T0 + timedelta(days=9)) == []


def test_after_downtime_each_missed_step_fires_once_with_its_lateness_and_no_stale_warning() -> (
    None
):
    timer = armed()
    steps = fire(timer, CHAIN, T0 + timedelta(hours=9))
    assert kinds(steps) == ["breached", "remind->rep-1", "escalate_to_manager->boss"]
    assert [s.late_by_seconds for s in steps] == [5 * 3600, 5 * 3600, 3600]
    assert fire(timer, CHAIN, T0 + timedelta(hours=9)) == []


def test_an_answer_after_the_breach_ends_the_chain() -> None:
    timer = armed()
    fire(timer, CHAIN, T0 + timedelta(hours=4))
    assert stop_timer(timer, Stop("L-1", "H-1", "rep-1", T0 + timedelta(hours=5))) is None
    assert timer.state is TimerState.CANCELLED and timer.next_at is None
    assert fire(timer, CHAIN, T0 + timedelta(days=1)) == []


def test_a_timer_whose_policy_was_removed_still_breaches_but_escalates_no_further() -> None:
    timer = armed()
    assert kinds(fire(timer, None, T0 + timedelta(days=1))) == ["breached"]
    assert timer.next_at is None


def test_a_reassignment_after_the_stop_rearms_the_clock_for_the_new_rep() -> None:
    timer = armed()
    stop_timer(timer, Stop("L-1", "H-1", "rep-2", T0 + timedelta(hours=5)))
    later = T0 + timedelta(hours=5)
    again = start_timer(timer, CHAIN, start(later, rep="rep-2"), "timer-1")
    assert again is not None
    assert (again.state, again.rep_id, again.started_at) == (TimerState.PENDING, "rep-2", later)
    assert again.due_at == later + timedelta(hours=4) and again.escalation_level == 0


def test_a_reassignment_without_a_stop_rearms_a_running_timer_for_the_new_rep() -> None:
    timer = armed()
    again = start_timer(timer, CHAIN, start(T0 + timedelta(hours=1), rep="rep-2"), "timer-1")
    assert again is not None and again.rep_id == "rep-2"


def test_a_replayed_or_older_start_never_rearms() -> None:
    timer = armed()
    assert start_timer(timer, CHAIN, start(T0), "timer-1") is None
    assert start_timer(timer, CHAIN, start(T0 - timedelta(hours=1), rep="rep-2"), "timer-1") is None
    stop_timer(timer, Stop("L-1", "H-1", "rep-1", T0 + timedelta(hours=1)))
    assert start_timer(timer, CHAIN, start(T0, rep="rep-2"), "timer-1") is None


def test_a_tombstone_blocks_the_late_start_but_not_a_later_assignment() -> None:
    mark = tombstone(CHAIN, Stop("L-1", "H-1", "rep-1", T0), "timer-1")
    assert start_timer(mark, CHAIN, start(T0 - timedelta(minutes=1)), "timer-1") is None
    assert start_timer(mark, CHAIN, start(T0), "timer-1") is None
    assert start_timer(mark, CHAIN, start(T0 + timedelta(minutes=1), rep="rep-2"), "timer-1")


def _count(metric: Any, *labels: str) -> float:
    return float(metric.labels(*labels)._value.get())


def test_a_reported_batch_counts_each_step_under_its_policy_stage_and_action() -> None:
    policy = f"report-{uuid.uuid4().hex[:8]}"  # the metrics are process-wide: labels of its own
    chain = replace(CHAIN, name=policy)
    late = T0 + timedelta(hours=12, minutes=1)  # every step of the chain is due
    done = []
    for _ in range(3):
        t = armed(chain)
        done.append((t, fire(t, chain, late)))
    Firing([chain]).report(done)

    assert _count(BREACHES, policy, "accept") == 3
    assert _count(WARNINGS, policy, "accept") == 0  # a warning whose breach is due is noise
    for action in ("remind", "escalate_to_manager", "reassign"):
        assert _count(ESCALATIONS, policy, "accept", action) == 3
