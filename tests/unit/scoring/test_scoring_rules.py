"""Behaviour and fit rules, repeat policies, caps, decay, titles and the reason sentence."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from handoff_scoring.config import ScoringFile, build_model, load_model
from handoff_scoring.domain import lifecycle
from handoff_scoring.domain.engagement import score_at
from handoff_scoring.domain.explanation import contributions, describe_person, reason
from handoff_scoring.domain.lead import Lead
from handoff_scoring.domain.model import ScoringModel
from handoff_scoring.domain.titles import seniority
from handoff_scoring.domain.triggers import Qualified

REPO = Path(__file__).resolve().parents[3]
DAY = 86_400.0
T0 = 1_795_000_000.0  # 2026-11-18


def model_of(text: str, **overrides: Any) -> ScoringModel:
    raw = yaml.safe_load(text)
    raw.update(overrides)
    raw.setdefault("model_version", "t")
    raw.setdefault("threshold", 1000)
    return build_model(ScoringFile.model_validate(raw))


def engagement(model: ScoringModel, lead: Lead, at: float | None = None) -> int:
    return score_at(model, lead, at).engagement


def lead_with(
    model: ScoringModel, *acts: tuple[float, str] | tuple[float, str, dict[str, str]]
) -> Lead:
    lead = Lead("L-1")
    for a in acts:
        lifecycle.apply_activity(model, lead, a[0], a[1], a[2] if len(a) > 2 else None)
    return lead


BASIC = """
behaviour:
  - {name: views, activity: page_view, points: 1}
  - {name: pricing, activity: page_view, where: {url: "*/pricing*"}, points: 15}
  - {name: guides, activity: content_download, points: 8, cap: 20}
  - {name: careers, activity: page_view, where: {url: "*/careers*"}, points: -10, repeat: once}
  - {name: opens, activity: email_open, points: 2, repeat: {at_most: 2, per: day}}
  - {name: clicks, activity: email_click, points: 3, repeat: {at_most: 2, within: 7d}}
  - {name: webinar, activity: webinar_registered, points: 5, repeat: once}
  - {name: source, activity: form_submit, where: {source: hubspot}, points: 7}
"""


def test_an_activity_scores_every_rule_it_matches() -> None:
    model = model_of(BASIC)
    lead = lead_with(model, (T0, "page_view", {"url": "https://x.example/ja/pricing"}))
    assert engagement(model, lead) == 16
    assert engagement(model, lead_with(model, (T0, "page_view", {"url": "/blog"}))) == 1


def test_negative_points_lower_the_score() -> None:
    model = model_of(BASIC)
    lead = lead_with(model, (T0, "page_view"), (T0, "page_view", {"url": "/careers/jobs"}))
    assert engagement(model, lead) == -8


def test_a_cap_limits_what_one_rule_adds() -> None:
    model = model_of(BASIC)
    lead = lead_with(model, *[(T0 + i, "content_download") for i in range(5)])
    assert engagement(model, lead) == 20
    assert contributions(model, lead)[0].count == 5


def test_once_counts_the_first_time_only() -> None:
    model = model_of(BASIC)
    lead = lead_with(model, (T0, "webinar_registered"), (T0 + 1, "webinar_registered"))
    assert engagement(model, lead) == 5


def test_at_most_n_per_day_counts_again_the_next_day() -> None:
    model = model_of(BASIC)
    same_day = [(T0 + i, "email_open") for i in range(4)]
    lead = lead_with(model, *same_day, (T0 + DAY, "email_open"))
    assert engagement(model, lead) == 2 * 2 + 2


def test_at_most_n_per_rolling_window() -> None:
    model = model_of(BASIC)
    lead = lead_with(
        model,
        (T0, "email_click"),
        (T0 + DAY, "email_click"),
        (T0 + 2 * DAY, "email_click"),  # third within 7 days: not counted
        (T0 + 7 * DAY, "email_click"),  # the first has left the window
    )
    assert engagement(model, lead) == 9


def test_a_condition_on_the_signal_source() -> None:
    model = model_of(BASIC)
    assert engagement(model, lead_with(model, (T0, "form_submit", {"source": "HubSpot"}))) == 7
    assert engagement(model, lead_with(model, (T0, "form_submit", {"source": "marketo"}))) == 0


def test_an_unknown_activity_scores_the_default_and_a_known_one_never_does() -> None:
    model = model_of(BASIC, default_points=2)
    assert engagement(model, lead_with(model, (T0, "chat_started"))) == 2
    # page_view is named by a rule: a page view no rule matches earns nothing extra
    assert engagement(model, lead_with(model, (T0, "email_bounce"), (T0, "page_view"))) == 3


def test_the_engagement_cap_bounds_the_total() -> None:
    model = model_of(BASIC, engagement_cap=10)
    assert engagement(model, lead_with(model, *[(T0, "content_download")] * 2)) == 10


DECAY = """
decay: {half_life: 30d}
behaviour:
  - {name: guides, activity: content_download, points: 40}
  - {name: views, activity: page_view, points: 10, lifespan: 7d}
"""


def test_half_life_halves_points_exactly_by_event_time() -> None:
    model = model_of(DECAY)
    lead = lead_with(model, (T0, "content_download"))
    assert engagement(model, lead, T0 + 30 * DAY) == 20
    assert engagement(model, lead, T0 + 60 * DAY) == 10
    later = lead_with(model, (T0, "content_download"), (T0 + 30 * DAY, "content_download"))
    assert engagement(model, later) == 60


def test_a_lifespan_ends_an_activitys_points() -> None:
    model = model_of(DECAY)
    lead = lead_with(model, (T0, "page_view"))
    assert engagement(model, lead, T0 + 6 * DAY) == 9  # 10 decayed by 6 days of half-life
    assert engagement(model, lead, T0 + 7 * DAY) == 0


def test_a_busy_lifespan_rule_scores_exactly_what_its_live_activities_add_up_to() -> None:
    # The tally keeps the lifespan rule's weights as a running sum (added as activities come,
    # taken off as they expire); it must equal the sum over the activities still alive.
    model = model_of(
        """
decay: {half_life: 9d}
behaviour:
  - {name: v, activity: page_view, points: 2, lifespan: 20d}
"""
    )
    lead = Lead("L-1")
    times = [T0 + i * 2591.0 for i in range(2000)]  # 60 days, a view every 43 minutes
    for t in times:
        lifecycle.apply_activity(model, lead, t, "page_view", None)
    for at in (times[-1], times[-1] + 5 * DAY, times[-1] + 19.9 * DAY, times[-1] + 21 * DAY):
        alive = [t for t in times if at - t < 20 * DAY]
        want = sum(2 * 0.5 ** ((at - t) / (9 * DAY)) for t in alive)
        got = lead.tally_for(model).engagement(model, at)
        assert abs(got - want) <= 1e-9 * max(want, 1.0), (at, got, want)


def test_a_reset_after_inactivity_starts_engagement_from_zero() -> None:
    model = model_of(
        "decay: {reset_after_inactive: 30d}\n"
        "behaviour: [{name: g, activity: content_download, points: 10}]"
    )
    lead = lead_with(model, (T0, "content_download"), (T0 + 10 * DAY, "content_download"))
    assert engagement(model, lead, T0 + 39 * DAY) == 20
    assert engagement(model, lead, T0 + 40 * DAY) == 0
    lifecycle.apply_activity(model, lead, T0 + 50 * DAY, "content_download")
    assert engagement(model, lead) == 10  # only what came after the gap


@pytest.mark.parametrize(
    ("title", "level"),
    [
        ("CTO", "executive"),
        ("代表取締役社長", "executive"),
        ("取締役", "executive"),
        ("VP Engineering", "vp"),
        ("本部長", "vp"),
        ("執行役員", "vp"),
        ("部長", "director"),
        ("IT Director", "director"),
        ("Head of Marketing", "director"),
        ("部長代理", "manager"),
        ("課長", "manager"),
        ("Marketing Manager", "manager"),
        ("Software Engineer", "individual"),
        ("Student", "student"),
        ("", None),
    ],
)
def test_seniority_reads_english_and_japanese_titles(title: str, level: str | None) -> None:
    assert seniority(title) == level


SHIPPED = load_model(REPO / "config" / "scoring.yaml")


def test_fit_scores_the_ideal_customer_profile_with_a_grade() -> None:
    lead = Lead("L-1", traits={
        "email": "aiko@sakura.co.jp",
        "title": "部長",
        "company": {"size": 120, "industry": "software", "country": "JP", "region": "Tokyo"},
    })  # fmt: skip
    fit = lead.fit(SHIPPED)
    assert set(fit.rules) == {
        "mid-market", "manager-title", "target-industry", "home-market", "priority-region",
        "japanese-corporate-email",
    }  # fmt: skip
    assert fit.points == 50 and fit.grade == "A"  # 55, capped
    assert Lead("L-2", traits={"company": {"size": 20}}).fit(SHIPPED).grade == "D"
    assert (
        Lead("L-3", traits={"title": "VP Sales", "company": {"size": 900}}).fit(SHIPPED).grade
        == "B"
    )


def test_engagement_and_fit_are_separate_scores_with_their_own_caps() -> None:
    model = model_of(
        "behaviour: [{name: g, activity: content_download, points: 30}]\n"
        "engagement_cap: 50\n"
        "fit: {cap: 20, rules: [{name: big, company_size: {min: 100}, points: 15},"
        " {name: cto, seniority: [executive], points: 15}]}"
    )
    lead = lead_with(model, (T0, "content_download"), (T0, "content_download"))
    lifecycle.apply_identify(model, lead, {"title": "CTO", "company": {"size": 500}}, T0)
    score = score_at(model, lead)
    assert (score.engagement, score.fit.points, score.total) == (50, 20, 70)


def test_the_reason_is_one_sentence_a_rep_can_read() -> None:
    lead = Lead("L-1", traits={
        "title": "VP", "company": {"size": 120, "industry": "software", "region": "Tokyo"},
    })  # fmt: skip
    for i in range(2):
        lifecycle.apply_activity(SHIPPED, lead, T0 + i * 3600, "pricing_page_view")
    for i in range(3):
        lifecycle.apply_activity(SHIPPED, lead, T0 + DAY + i, "content_download")
    top = contributions(SHIPPED, lead, limit=5)
    assert reason(SHIPPED, lead, lead.last_at or 0, top) == (
        "Visited pricing twice and downloaded 3 guides this week; "
        "VP at a 120-person software company in Tokyo."
    )


def test_a_sequence_mql_says_each_thing_once() -> None:
    lead = Lead("L-1")
    lifecycle.apply_activity(SHIPPED, lead, T0, "video_watched", {"asset": "demo-tour"})
    lifecycle.apply_activity(
        SHIPPED, lead, T0 + 60, "page_view", {"url": "https://x.example/pricing"}
    )
    lifecycle.apply_activity(SHIPPED, lead, T0 + 90, "content_download", {"asset": "roi-guide"})
    (q,) = lifecycle.apply_activity(SHIPPED, lead, T0 + 120, "pricing_page_view", None)
    assert isinstance(q, Qualified)
    assert (q.kind, q.rule) == ("sequence", "demo-video-then-pricing")
    top = contributions(SHIPPED, lead, q.at, limit=5)
    label = SHIPPED.trigger_labels[q.rule]
    assert reason(SHIPPED, lead, q.at, top, label, q.rule) == (
        "Watched the demo video, then visited pricing and downloaded 1 guide today."
    )


def test_rules_sharing_a_label_are_said_once_with_their_counts_added() -> None:
    lead = Lead("L-1")
    lifecycle.apply_activity(SHIPPED, lead, T0, "pricing_page_view", None)
    lifecycle.apply_activity(
        SHIPPED, lead, T0 + 1, "page_view", {"url": "https://x.example/pricing"}
    )
    top = contributions(SHIPPED, lead, limit=5)
    assert reason(SHIPPED, lead, T0 + 1, top).startswith("Visited pricing twice and ")


def test_describe_person_without_size_names_the_company() -> None:
    assert describe_person({"title": "CTO", "company": {"name": "Sakura"}}) == "CTO at Sakura"
    assert describe_person({}) == ""
