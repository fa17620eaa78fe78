"""Erasure's pure parts: the tombstone scoring keeps, what it reports, and the outbox scrubbers."""

from __future__ import annotations

from datetime import timedelta

from handoff.messaging.erasure import drop_data_fields
from handoff_routing.adapters.erasure import scrub_event as scrub_routing_event
from handoff_scoring.adapters.events_out import scrub_event as scrub_scoring_event
from handoff_scoring.adapters.lead_state import decode, encode
from handoff_scoring.domain.erasure import (
    erase,
    is_tombstone,
    signal_predates_erasure,
    trait_fields,
    with_alias,
)
from handoff_scoring.domain.lead import Lead, epoch_seconds
from tests.factories import T0

CANARY = "canary-7f3a@example.invalid"


def qualified_lead() -> Lead:
    return Lead(
        "L-1",
        history=[(epoch_seconds(T0), "page_view", {"url": f"https://x.example/?e={CANARY}"})],
        traits={"email": CANARY, "name": "Kanari Tori", "company": {"name": "Acme", "size": 40}},
        traits_at=epoch_seconds(T0),
        cycle=2,
        qualified_at=epoch_seconds(T0),
        trigger="threshold:score",
        aliases=["anon-1"],
    )


def test_erasure_leaves_a_tombstone_with_only_the_next_cycle_and_the_time() -> None:
    at = epoch_seconds(T0 + timedelta(days=1))
    tombstone, _ = erase(qualified_lead(), at)
    assert tombstone == Lead("L-1", cycle=3, erased_at=at)
    assert CANARY not in repr(tombstone)
    assert is_tombstone(tombstone)


def test_erasure_reports_counts_and_field_names_never_values() -> None:
    _, erased = erase(qualified_lead(), epoch_seconds(T0))
    assert erased.activities == 1
    assert erased.aliases == 1
    assert erased.fields == [
        "traits.company.name",
        "traits.company.size",
        "traits.email",
        "traits.name",
        "history",
        "aliases",
        "mql",
    ]
    assert CANARY not in repr(erased)


def test_trait_fields_spell_out_nested_objects_and_skip_empty_ones() -> None:
    assert trait_fields({"email": "x", "company": {"domain": "d"}, "title": None, "k": {}}) == [
        "company.domain",
        "email",
    ]


def test_only_signals_sent_before_the_erasure_are_dropped() -> None:
    tombstone, _ = erase(qualified_lead(), epoch_seconds(T0))
    assert signal_predates_erasure(tombstone, T0 - timedelta(seconds=1))
    assert signal_predates_erasure(tombstone, T0)
    assert not signal_predates_erasure(tombstone, T0 + timedelta(milliseconds=1))
    assert not signal_predates_erasure(Lead("L-2"), T0)
    assert not signal_predates_erasure(None, T0)


def test_a_lead_that_got_signals_after_its_erasure_is_no_tombstone() -> None:
    tombstone, _ = erase(qualified_lead(), epoch_seconds(T0))
    tombstone.history.append((epoch_seconds(T0) + 5, "page_view", None))
    assert not is_tombstone(tombstone)
    assert not is_tombstone(Lead("L-3"))


def test_aliases_are_remembered_once_with_those_the_merged_lead_had() -> None:
    lead = Lead("L-1")
    with_alias(lead, "anon-1", Lead("anon-1", aliases=["anon-0", "L-1"]))
    with_alias(lead, "anon-1", None)
    assert lead.aliases == ["anon-1", "anon-0"]


def test_aliases_and_the_erasure_time_survive_storage() -> None:
    lead = Lead("L-1", aliases=["anon-1"], erased_at=12.5, cycle=4)
    assert decode("L-1", encode(lead)) == lead
    assert decode("L-1", encode(Lead("L-1"))).aliases == []


def test_scoring_outbox_scrub_drops_the_traits_of_an_mql() -> None:
    event = {"type": "handoff.lead.mql", "data": {"lead_id": "L-1", "traits": {"email": CANARY}}}
    assert scrub_scoring_event(event) == ["data.traits"]
    assert event == {"type": "handoff.lead.mql", "data": {"lead_id": "L-1"}}
    assert scrub_scoring_event({"type": "handoff.lead.score_changed", "data": {"score": 3}}) == []


def test_routing_outbox_scrub_drops_notes_reasons_and_decision_notes() -> None:
    event = {
        "data": {
            "lead_id": "L-1",
            "note": CANARY,
            "reason": "no account for example.invalid",
            "decision": [{"rule": "accounts", "note": "no account for example.invalid"}, {}],
        }
    }
    assert scrub_routing_event(event) == ["data.note", "data.reason", "data.decision.note"]
    assert event == {"data": {"lead_id": "L-1", "decision": [{"rule": "accounts"}, {}]}}
    assert scrub_routing_event({"data": {"lead_id": "L-1", "rep_id": "r"}}) == []


def test_drop_data_fields_leaves_an_event_without_data_alone() -> None:
    assert drop_data_fields({"data": "text"}, ["note"]) == []
    assert drop_data_fields({}, ["note"]) == []
