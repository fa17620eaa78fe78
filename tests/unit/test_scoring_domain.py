"""The scoring domain: points, the threshold, one MQL per cycle, identify, alias, the reason."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from handoff_scoring.domain.model import (
    Activity,
    LeadScore,
    ScoringModel,
    apply_activity,
    apply_identify,
    explain,
    merge_alias,
)

MODEL = ScoringModel(
    version="v-test",
    threshold=60,
    points={
        "page_view": 1,
        "pricing_page_view": 15,
        "content_download": 8,
        "demo_request": 60,
        "unsubscribe": -20,
    },
)
T0 = datetime(2026, 11, 21, 10, tzinfo=UTC)


def act(lead: LeadScore, kind: str, minute: int = 0):  # type: ignore[no-untyped-def]
    return apply_activity(lead, Activity(lead.lead_id, kind, T0 + timedelta(minutes=minute)), MODEL)


def test_points_add_up_per_activity_type() -> None:
    lead = LeadScore("L-1")
    act(lead, "page_view")
    act(lead, "pricing_page_view")
    act(lead, "pricing_page_view", 5)
    assert lead.score == 31
    assert lead.tallies["pricing_page_view"].count == 2
    assert lead.tallies["pricing_page_view"].points == 30
    assert lead.tallies["pricing_page_view"].last_seen == T0 + timedelta(minutes=5)


def test_crossing_the_threshold_qualifies_once_per_cycle() -> None:
    lead = LeadScore("L-1")
    results = [act(lead, "pricing_page_view", i) for i in range(6)]
    qualified = [r for r in results if r is not None]
    assert len(qualified) == 1
    assert qualified[0].score == 60
    assert qualified[0].qualified_at == T0 + timedelta(minutes=3)
    assert lead.is_mql


def test_negative_points_lower_the_score_and_block_qualification() -> None:
    lead = LeadScore("L-1")
    act(lead, "unsubscribe")
    for i in range(5):
        assert act(lead, "pricing_page_view", i) is None
    assert lead.score == 55


def test_unknown_activity_types_are_counted_but_score_the_default() -> None:
    lead = LeadScore("L-1")
    act(lead, "chat_started")
    assert lead.score == 0
    assert lead.tallies["chat_started"].count == 1


def test_identify_merges_traits_without_erasing_known_values() -> None:
    lead = LeadScore("L-1")
    apply_identify(lead, {"title": "部長", "company": {"name": "Sakura", "size": 120}})
    apply_identify(lead, {"company": {"industry": "Software", "size": None}})
    assert lead.traits == {
        "title": "部長",
        "company": {"name": "Sakura", "size": 120, "industry": "Software"},
    }


def test_alias_folds_anonymous_activity_into_the_known_lead_and_can_qualify() -> None:
    anonymous = LeadScore("anon-1")
    for i in range(4):
        act(anonymous, "pricing_page_view", i)
    known = LeadScore("L-1")
    act(known, "content_download", 10)
    qualified = merge_alias(known, anonymous, MODEL)
    assert qualified is not None
    assert known.score == 68
    assert known.tallies["pricing_page_view"].count == 4
    assert known.updated_at == T0 + timedelta(minutes=10)


def test_alias_below_threshold_does_not_qualify() -> None:
    anonymous = LeadScore("anon-1")
    act(anonymous, "page_view")
    known = LeadScore("L-1")
    assert merge_alias(known, anonymous, MODEL) is None
    assert known.score == 1


def test_the_reason_names_the_top_activities_and_the_person() -> None:
    lead = LeadScore("L-1")
    apply_identify(
        lead, {"title": "VP", "company": {"size": 120, "industry": "software", "region": "Tokyo"}}
    )
    act(lead, "pricing_page_view")
    act(lead, "pricing_page_view", 1)
    act(lead, "content_download", 2)
    act(lead, "content_download", 3)
    q = act(lead, "content_download", 4)
    assert q is None  # 54 points: not yet
    q = act(lead, "content_download", 5)
    assert q is not None
    assert q.reason == (
        "Scored 62 (threshold 60) from 4 content downloads and 2 pricing page views; "
        "VP at a 120-person software company in Tokyo."
    )


def test_explain_without_traits_is_still_a_sentence() -> None:
    assert explain(60, 60, (), {}) == "Scored 60 (threshold 60) from engagement."
