"""Routing's pure domain: the handoff state machine (pools and rules: test_routing_rules.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from handoff_routing.domain.decision import DEFAULT_POOL_RULE
from handoff_routing.domain.handoff import (
    Handoff,
    HandoffConflict,
    HandoffState,
    Outcome,
    UnknownReasonCode,
    accept,
    contact,
    disposition,
    reject,
    successor,
    take_away,
)
from handoff_routing.domain.reasons import FollowUp, ReasonCode, ReasonCodes

T0 = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
LATER = T0 + timedelta(minutes=4)

REASONS = ReasonCodes(
    [
        ReasonCode("no_budget", "No budget", "予算なし", FollowUp.RECYCLE, 90),
        ReasonCode("wrong_territory", "Wrong territory", "担当外", FollowUp.REASSIGN),
        ReasonCode("duplicate", "Duplicate", "重複", FollowUp.DISQUALIFY),
    ]
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
    assert caught.value.known == ("no_budget", "wrong_territory", "duplicate")
    assert h.state is HandoffState.ASSIGNED


# Follow-ups of a rejection


def test_a_rejection_records_its_follow_up_and_when_a_recycle_ends() -> None:
    recycled, reassigned, disqualified = handoff(), handoff(), handoff()
    reject(recycled, "aiko", "no_budget", None, T0, REASONS)
    reject(reassigned, "aiko", "wrong_territory", None, T0, REASONS)
    reject(disqualified, "aiko", "duplicate", None, T0, REASONS)
    assert (recycled.follow_up, recycled.recycle_until) == ("recycled", T0 + timedelta(days=90))
    assert (reassigned.follow_up, reassigned.recycle_until) == ("reassigned", None)
    assert (disqualified.follow_up, disqualified.recycle_until) == ("disqualified", None)
    assert {h.state for h in (recycled, reassigned, disqualified)} == {HandoffState.REJECTED}


def test_a_successor_leaves_out_every_rep_who_already_had_the_lead() -> None:
    first = handoff()
    first.excluded = ("kenji",)
    second = successor(first, "h-2", LATER)
    assert second.attempt == 2
    assert second.excluded == ("kenji", "aiko")
    assert (second.mql_id, second.lead_id) == (first.mql_id, first.lead_id)
    assert second.state is HandoffState.UNASSIGNED
    assert first.next_handoff_id == "h-2"


# After acceptance: contact and disposition


def test_an_accepted_lead_is_contacted_then_dispositioned() -> None:
    h = handoff()
    accept(h, "aiko", T0)
    assert contact(h, "aiko", "phone", LATER) is True
    assert (h.state, h.channel) == (HandoffState.CONTACTED, "phone")
    assert disposition(h, "aiko", Outcome.SQL, "BANT ok", LATER) is True
    assert (h.state, h.outcome, h.recycle_until) == (HandoffState.DISPOSITIONED, "sql", None)


def test_a_recycle_disposition_sets_when_marketing_may_try_again() -> None:
    h = handoff()
    accept(h, "aiko", T0)
    contact(h, "aiko", None, T0)
    disposition(h, "aiko", Outcome.RECYCLE, None, T0, recycle_after_days=30)
    assert h.recycle_until == T0 + timedelta(days=30)


def test_repeating_a_contact_or_disposition_is_harmless_but_another_outcome_conflicts() -> None:
    h = handoff()
    accept(h, "aiko", T0)
    contact(h, "aiko", "email", T0)
    assert contact(h, "aiko", "email", LATER) is False
    disposition(h, "aiko", Outcome.NURTURE, None, T0)
    assert disposition(h, "aiko", Outcome.NURTURE, None, LATER) is False
    with pytest.raises(HandoffConflict, match="already dispositioned") as caught:
        disposition(h, "aiko", Outcome.SQL, None, LATER)
    assert caught.value.state is HandoffState.DISPOSITIONED
    assert h.outcome == "nurture"


@pytest.mark.parametrize(
    ("state", "act"),
    [
        (HandoffState.ASSIGNED, "contact"),
        (HandoffState.ASSIGNED, "disposition"),
        (HandoffState.ACCEPTED, "disposition"),
        (HandoffState.REJECTED, "contact"),
        (HandoffState.CONTACTED, "accept"),
        (HandoffState.DISPOSITIONED, "contact"),
        (HandoffState.REASSIGNED, "accept"),
    ],
)
def test_illegal_transitions_are_conflicts_naming_the_state(state: HandoffState, act: str) -> None:
    h = handoff(state)
    with pytest.raises(HandoffConflict) as caught:
        if act == "accept":
            accept(h, "aiko", LATER)
        elif act == "contact":
            contact(h, "aiko", None, LATER)
        else:
            disposition(h, "aiko", Outcome.SQL, None, LATER)
    assert caught.value.state is state
    assert h.state is state


# SLA escalation


def test_an_escalation_takes_an_unaccepted_lead_away() -> None:
    h = handoff()
    assert take_away(h, LATER) is True
    assert (h.state, h.follow_up) == (HandoffState.REASSIGNED, "reassigned")


def test_an_escalation_that_crossed_an_accept_changes_nothing() -> None:
    h = handoff()
    accept(h, "aiko", T0)
    assert take_away(h, LATER) is False
    assert h.state is HandoffState.ACCEPTED
