"""Routing's pure domain: round robin, the decision trace and the handoff state machine."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from handoff_routing.domain.decision import DEFAULT_POOL_RULE, decide
from handoff_routing.domain.handoff import (
    Handoff,
    HandoffConflict,
    HandoffState,
    UnknownReasonCode,
    accept,
    reject,
)
from handoff_routing.domain.reasons import FollowUp, ReasonCode, ReasonCodes
from handoff_routing.domain.roster import Candidate, Pool, Rep, Roster, choose

T0 = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
LATER = T0 + timedelta(minutes=4)

REASONS = ReasonCodes(
    [
        ReasonCode("no_budget", "No budget", "予算なし", FollowUp.RECYCLE, 90),
        ReasonCode("wrong_territory", "Wrong territory", "担当外", FollowUp.REASSIGN),
    ]
)


def rep(rep_id: str, *, active: bool = True) -> Rep:
    return Rep(rep_id, rep_id.title(), f"{rep_id}@example.com", "inside-sales", active)


def roster(*reps: Rep, pool: str = "inside-sales") -> Roster:
    return Roster(
        reps={r.id: r for r in reps},
        pools={pool: Pool(pool, tuple(r.id for r in reps))},
        default_pool=pool,
    )


def handoff(state: HandoffState = HandoffState.ASSIGNED, rep_id: str | None = "aiko") -> Handoff:
    return Handoff(
        handoff_id="h-1",
        lead_id="L-1",
        mql_id="mql-1",
        state=state,
        rep_id=rep_id,
        pool="inside-sales",
        rule=DEFAULT_POOL_RULE,
        created_at=T0,
        updated_at=T0,
        assigned_at=T0 if rep_id else None,
    )


# Round robin


def test_round_robin_hands_leads_to_members_in_the_listed_order() -> None:
    team = roster(rep("aiko"), rep("kenji"), rep("emma"))
    pointers: dict[str, int] = {}
    chosen = [decide(team, pointers).rep_id for _ in range(4)]
    assert chosen == ["aiko", "kenji", "emma", "aiko"]


def test_round_robin_starts_from_the_stored_position() -> None:
    team = roster(rep("aiko"), rep("kenji"), rep("emma"))
    pool = team.pools["inside-sales"]
    chosen, position, _ = choose(pool, team.reps, 2)
    assert chosen is not None and chosen.id == "emma"
    assert position == 0


def test_round_robin_skips_inactive_reps_and_says_why() -> None:
    team = roster(rep("aiko"), rep("yui", active=False), rep("kenji"))
    pool = team.pools["inside-sales"]
    chosen, position, looked_at = choose(pool, team.reps, 1)
    assert chosen is not None and chosen.id == "kenji"
    assert position == 0
    assert looked_at == (Candidate("yui", "inactive"), Candidate("kenji"))


def test_round_robin_skips_a_member_missing_from_the_roster() -> None:
    team = Roster(
        reps={"aiko": rep("aiko")},
        pools={"p": Pool("p", ("ghost", "aiko"))},
        default_pool="p",
    )
    chosen, _, looked_at = choose(team.pools["p"], team.reps, 0)
    assert chosen is not None and chosen.id == "aiko"
    assert looked_at[0] == Candidate("ghost", "not on the roster")


def test_a_pool_without_active_reps_chooses_nobody_and_keeps_its_position() -> None:
    team = roster(rep("aiko", active=False), rep("yui", active=False))
    chosen, position, looked_at = choose(team.pools["inside-sales"], team.reps, 1)
    assert chosen is None
    assert position == 1
    assert [c.skipped for c in looked_at] == ["inactive", "inactive"]


def test_every_active_rep_gets_an_equal_share_over_many_assignments() -> None:
    team = roster(rep("aiko"), rep("kenji"), rep("yui", active=False), rep("emma"), rep("dan"))
    pointers: dict[str, int] = {}
    counts = Counter(decide(team, pointers).rep_id for _ in range(400))
    assert counts == {"aiko": 100, "kenji": 100, "emma": 100, "dan": 100}


def test_an_inactive_rep_does_not_double_the_next_reps_share() -> None:
    # The pointer moves past the rep who was chosen, so kenji does not also get yui's turn.
    team = roster(rep("aiko"), rep("yui", active=False), rep("kenji"), rep("emma"))
    pointers: dict[str, int] = {}
    chosen = [decide(team, pointers).rep_id for _ in range(6)]
    assert chosen == ["aiko", "kenji", "emma", "aiko", "kenji", "emma"]


# The decision trace


def test_a_decision_records_the_default_pool_rule_and_who_was_looked_at() -> None:
    team = roster(rep("yui", active=False), rep("kenji"))
    decision = decide(team, {})
    assert decision.rep_id == "kenji"
    assert decision.pool == "inside-sales"
    assert decision.rule == DEFAULT_POOL_RULE
    (step,) = decision.steps
    assert step.matched and step.pool == "inside-sales"
    assert step.candidates == (Candidate("yui", "inactive"), Candidate("kenji"))
    assert decision.unassigned_reason is None


def test_a_decision_without_an_active_rep_says_why_the_lead_is_unassigned() -> None:
    team = roster(rep("yui", active=False))
    decision = decide(team, {})
    assert decision.rep_id is None
    assert decision.unassigned_reason == "no active rep in pool 'inside-sales'"
    assert decision.steps[0].note == decision.unassigned_reason


# The handoff state machine


def test_the_assigned_rep_accepts_a_handoff() -> None:
    h = handoff()
    assert accept(h, "aiko", LATER) is True
    assert h.state is HandoffState.ACCEPTED
    assert h.updated_at == LATER


def test_the_assigned_rep_rejects_a_handoff_with_a_known_reason() -> None:
    h = handoff()
    assert reject(h, "aiko", "no_budget", "FY27 budget only", LATER, REASONS) is True
    assert h.state is HandoffState.REJECTED
    assert (h.reason_code, h.note) == ("no_budget", "FY27 budget only")
    assert h.updated_at == LATER


def test_accepting_twice_is_a_harmless_repeat() -> None:
    h = handoff()
    accept(h, "aiko", T0)
    assert accept(h, "aiko", LATER) is False
    assert h.state is HandoffState.ACCEPTED
    assert h.updated_at == T0


def test_rejecting_twice_with_the_same_reason_is_a_harmless_repeat() -> None:
    h = handoff()
    reject(h, "aiko", "no_budget", None, T0, REASONS)
    assert reject(h, "aiko", "no_budget", None, LATER, REASONS) is False
    assert h.updated_at == T0


def test_rejecting_again_with_another_reason_is_a_conflict() -> None:
    h = handoff()
    reject(h, "aiko", "no_budget", None, T0, REASONS)
    with pytest.raises(HandoffConflict, match="already rejected") as caught:
        reject(h, "aiko", "wrong_territory", None, LATER, REASONS)
    assert caught.value.state is HandoffState.REJECTED
    assert h.reason_code == "no_budget"


@pytest.mark.parametrize("act", ["accept", "reject"])
def test_another_rep_cannot_act_on_a_handoff(act: str) -> None:
    h = handoff()
    with pytest.raises(HandoffConflict, match="belongs to another rep") as caught:
        if act == "accept":
            accept(h, "kenji", LATER)
        else:
            reject(h, "kenji", "no_budget", None, LATER, REASONS)
    assert caught.value.state is HandoffState.ASSIGNED
    assert "assigned" in caught.value.detail
    assert h.state is HandoffState.ASSIGNED


def test_another_rep_cannot_repeat_an_accept_that_was_not_theirs() -> None:
    h = handoff()
    accept(h, "aiko", T0)
    with pytest.raises(HandoffConflict) as caught:
        accept(h, "kenji", LATER)
    assert caught.value.state is HandoffState.ACCEPTED


def test_a_rejected_handoff_cannot_be_accepted() -> None:
    h = handoff()
    reject(h, "aiko", "no_budget", None, T0, REASONS)
    with pytest.raises(HandoffConflict, match="is rejected") as caught:
        accept(h, "aiko", LATER)
    assert caught.value.state is HandoffState.REJECTED


def test_an_accepted_handoff_cannot_be_rejected() -> None:
    h = handoff()
    accept(h, "aiko", T0)
    with pytest.raises(HandoffConflict, match="is accepted") as caught:
        reject(h, "aiko", "no_budget", None, LATER, REASONS)
    assert caught.value.state is HandoffState.ACCEPTED
    assert h.reason_code is None


def test_nobody_can_accept_an_unassigned_handoff() -> None:
    h = handoff(HandoffState.UNASSIGNED, rep_id=None)
    with pytest.raises(HandoffConflict, match="no rep holds it") as caught:
        accept(h, "aiko", LATER)
    assert caught.value.state is HandoffState.UNASSIGNED


def test_a_rejection_with_an_unknown_reason_code_names_the_known_codes() -> None:
    h = handoff()
    with pytest.raises(UnknownReasonCode) as caught:
        reject(h, "aiko", "too_busy", None, LATER, REASONS)
    assert caught.value.known == ("no_budget", "wrong_territory")
    assert h.state is HandoffState.ASSIGNED
