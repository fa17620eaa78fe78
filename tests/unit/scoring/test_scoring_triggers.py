"""MQL triggers, disqualifiers, cycles, identity, and order: the score after events in any
arrival order equals the score in time order, and decay never increases a score."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from handoff_scoring.config import load_model
from handoff_scoring.domain import engagement, lifecycle
from handoff_scoring.domain.lead import Lead
from handoff_scoring.domain.lifecycle import Disqualified
from handoff_scoring.domain.triggers import Qualified
from tests.unit.scoring.test_scoring_rules import DAY, T0, model_of

REPO = Path(__file__).resolve().parents[3]
SHIPPED = load_model(REPO / "config" / "scoring.yaml")
MID_MARKET = {"title": "Engineer", "company": {"size": 120, "country": "DE"}}


def qualified(outcomes: list[lifecycle.Outcome]) -> list[Qualified]:
    return [o for o in outcomes if isinstance(o, Qualified)]


def act(lead: Lead, at: float, kind: str, **props: str) -> list[lifecycle.Outcome]:
    return lifecycle.apply_activity(SHIPPED, lead, at, kind, props or None)


def test_crossing_the_threshold_qualifies_once_per_cycle() -> None:
    lead = Lead("L-1")
    results = [qualified(act(lead, T0 + i, "pricing_page_view")) for i in range(6)]
    assert [len(r) for r in results] == [0, 0, 0, 1, 0, 0]
    q = results[3][0]
    assert (q.kind, q.engagement, q.at, q.cycle) == ("threshold", 60, T0 + 3, 1)


def test_fit_counts_toward_the_threshold() -> None:
    lead = Lead("L-1")
    lifecycle.apply_identify(SHIPPED, lead, {"title": "CTO", "company": {"size": 300}}, T0)
    assert not qualified(act(lead, T0, "pricing_page_view"))  # 15 + fit 35
    (q,) = qualified(act(lead, T0 + 1, "pricing_page_view"))  # 30 + fit 35
    assert (q.kind, q.engagement, q.fit.points, q.fit.grade) == ("threshold", 30, 35, "B")


def test_an_instant_activity_qualifies_whatever_the_score() -> None:
    lead = Lead("L-1")
    (q,) = qualified(act(lead, T0, "demo_request"))
    assert (q.kind, q.rule, q.engagement) == ("activity", "demo-request", 20)


def test_a_sequence_qualifies_only_in_order_and_within_its_window() -> None:
    lead = Lead("L-1")
    assert not qualified(act(lead, T0, "pricing_page_view"))
    assert not qualified(act(lead, T0 + DAY, "video_watched", asset="demo-2026"))
    (q,) = qualified(act(lead, T0 + 3 * DAY, "pricing_page_view"))
    assert (q.kind, q.rule) == ("sequence", "demo-video-then-pricing")
    slow = Lead("L-2")
    act(slow, T0, "video_watched", asset="demo-2026")
    assert not qualified(act(slow, T0 + 8 * DAY, "pricing_page_view"))
    other_video = Lead("L-3")
    act(other_video, T0, "video_watched", asset="founder-interview")
    assert not qualified(act(other_video, T0 + DAY, "pricing_page_view"))


def test_the_seed_criterion_three_content_engagements_mid_market_and_pricing() -> None:
    lead = Lead("L-1")
    lifecycle.apply_identify(SHIPPED, lead, MID_MARKET, T0)
    assert not qualified(act(lead, T0 + 1, "content_download"))
    assert not qualified(act(lead, T0 + 2, "video_watched", asset="product-tour"))
    assert not qualified(act(lead, T0 + 3, "page_view", url="/ja/pricing"))
    (q,) = qualified(act(lead, T0 + 4, "video_watched", asset="product-tour"))
    assert (q.kind, q.rule) == ("criteria", "engaged-mid-market-on-pricing")
    assert q.engagement + q.fit.points < SHIPPED.threshold  # the score alone would not do it


def test_the_seed_criterion_needs_every_part() -> None:
    too_big = Lead("L-1")
    lifecycle.apply_identify(SHIPPED, too_big, {"company": {"size": 800}}, T0)
    no_pricing = Lead("L-2")
    lifecycle.apply_identify(SHIPPED, no_pricing, MID_MARKET, T0)
    unknown_size = Lead("L-3")
    for lead in (too_big, unknown_size):
        act(lead, T0, "page_view", url="/pricing")
    for lead in (too_big, no_pricing, unknown_size):
        for i in range(3):
            assert not qualified(act(lead, T0 + 1 + i, "video_watched", asset="tour"))


def test_the_criterion_counts_only_within_its_window() -> None:
    lead = Lead("L-1")
    lifecycle.apply_identify(SHIPPED, lead, MID_MARKET, T0)
    act(lead, T0, "content_download")
    act(lead, T0 + 1, "content_download")
    act(lead, T0 + 2, "pricing_page_view")
    assert not qualified(act(lead, T0 + 91 * DAY, "content_download"))  # the first two expired


def test_an_identify_can_complete_the_criterion() -> None:
    lead = Lead("L-1")
    for i in range(3):
        act(lead, T0 + i, "webinar_attended")
    act(lead, T0 + 3, "pricing_page_view")
    (q,) = qualified(lifecycle.apply_identify(SHIPPED, lead, MID_MARKET, T0 + 10))
    assert q.kind == "criteria" and q.at == T0 + 10


def test_disqualifying_traits_stop_mqls_and_say_why_once() -> None:
    lead = Lead("L-1")
    out = lifecycle.apply_identify(SHIPPED, lead, {"email": "taro@gmail.com"}, T0)
    assert [(o.reason, o.rule) for o in out if isinstance(o, Disqualified)] == [
        ("free_mail", "free-mail")
    ]
    assert not qualified(act(lead, T0 + 1, "demo_request"))
    assert lifecycle.apply_identify(SHIPPED, lead, {"name": "Taro"}, T0 + 2) == []
    # a corporate address clears a trait disqualification: the next activity can qualify
    lifecycle.apply_identify(SHIPPED, lead, {"email": "taro@sakura.co.jp"}, T0 + 3)
    assert lead.disqualified is None
    assert qualified(act(lead, T0 + 4, "demo_request"))


def test_competitor_student_and_unsubscribe_disqualify() -> None:
    for traits, code in [
        ({"email": "spy@funnelforge.example"}, "competitor"),
        ({"email": "spy@mail.funnelforge.example"}, "competitor"),
        ({"email": "hanako@keio.ac.jp"}, "student"),
        ({"title": "Student"}, "student"),
    ]:
        lead = Lead("L")
        (d,) = lifecycle.apply_identify(SHIPPED, lead, traits, T0)
        assert isinstance(d, Disqualified) and d.reason == code
    lead = Lead("L")
    (d,) = act(lead, T0, "unsubscribe")
    assert isinstance(d, Disqualified) and d.reason == "unsubscribed"
    lifecycle.apply_identify(SHIPPED, lead, {"email": "ok@sakura.co.jp"}, T0 + 1)
    assert lead.disqualified == "unsubscribed"  # an activity disqualifies for good
    assert not qualified(act(lead, T0 + 2, "demo_request"))


def test_a_recycle_opens_a_new_cycle_after_the_recycle_period() -> None:
    lead = Lead("L-1")
    (first,) = qualified(act(lead, T0, "demo_request"))
    assert not qualified(act(lead, T0 + DAY, "demo_request"))
    until = T0 + 30 * DAY
    assert lifecycle.recycle(lead, until)
    assert lead.cycle == 2
    assert not qualified(act(lead, until - DAY, "demo_request"))  # still in the recycle period
    (second,) = qualified(act(lead, until + 1, "demo_request"))
    assert (first.cycle, second.cycle) == (1, 2)


def test_a_new_cycle_counts_engagement_from_its_start() -> None:
    lead = Lead("L-1")
    for i in range(4):
        act(lead, T0 + i, "pricing_page_view")
    assert lead.is_mql
    lifecycle.recycle(lead, T0 + 10)
    assert engagement.score_at(SHIPPED, lead).engagement == 0
    assert not qualified(act(lead, T0 + 11, "pricing_page_view"))


def test_a_recycle_without_an_mql_changes_nothing() -> None:
    lead = Lead("L-1")
    assert not lifecycle.recycle(lead, T0)
    assert lead.cycle == 1


def test_nurture_and_sales_disqualification_close_the_cycle_as_the_model_says() -> None:
    nurtured = Lead("L-1")
    act(nurtured, T0, "demo_request")
    lifecycle.disposition(SHIPPED, nurtured, "nurture", T0 + DAY)
    assert nurtured.cycle == 2 and nurtured.opens_at == T0 + 91 * DAY
    assert not qualified(act(nurtured, T0 + 2 * DAY, "demo_request"))
    assert qualified(act(nurtured, T0 + 92 * DAY, "demo_request"))
    dropped = Lead("L-2")
    act(dropped, T0, "demo_request")
    lifecycle.disposition(SHIPPED, dropped, "disqualified", T0 + DAY)
    assert dropped.closed
    assert not qualified(act(dropped, T0 + 400 * DAY, "demo_request"))
    lifecycle.disposition(SHIPPED, dropped, "sql", T0 + DAY)  # sql changes nothing here


def test_a_qualified_lead_that_sales_disqualified_is_closed_not_mql() -> None:
    lead = Lead("L-1")
    act(lead, T0, "demo_request")
    assert lifecycle.cycle_state(lead, T0 + 1) == "mql"
    lifecycle.disposition(SHIPPED, lead, "disqualified", T0 + DAY)
    assert lifecycle.cycle_state(lead, T0 + 2 * DAY) == "closed"
    nurtured = Lead("L-2")
    act(nurtured, T0, "demo_request")
    lifecycle.disposition(SHIPPED, nurtured, "nurture", T0 + DAY)
    assert lifecycle.cycle_state(nurtured, T0 + 2 * DAY) == "waiting"
    assert lifecycle.cycle_state(nurtured, T0 + 92 * DAY) == "open"


def test_an_alias_folds_earlier_anonymous_activity_in_as_if_in_order() -> None:
    anonymous = Lead("anon-1")
    for i in range(3):
        act(anonymous, T0 + i, "pricing_page_view")
    known = Lead("L-1")
    act(known, T0 + 10, "pricing_page_view")
    assert not known.is_mql
    (q,) = qualified(lifecycle.merge_alias(SHIPPED, known, anonymous))
    assert q.at == T0 + 10 and q.engagement == 60
    assert [e[0] for e in known.history] == [T0, T0 + 1, T0 + 2, T0 + 10]


def test_a_late_event_can_still_trigger_an_mql_at_its_place_in_time() -> None:
    model = model_of(
        "decay: {half_life: 10d}\n"
        "behaviour: [{name: g, activity: content_download, points: 40},"
        " {name: v, activity: page_view, points: 1}]",
        threshold=60,
    )
    lead = Lead("L-1")
    lifecycle.apply_activity(model, lead, T0, "content_download")
    lifecycle.apply_activity(model, lead, T0 + 60 * DAY, "page_view")
    # 40 points from day 0 are worth 0.6 by day 60; in order, a second download on day 1
    # would have made 40*0.93 + 40 = 77 on day 1: an MQL then, even though it arrives last.
    (q,) = qualified(lifecycle.apply_activity(model, lead, T0 + DAY, "content_download"))
    assert q.at == T0 + DAY and q.engagement == 77
    assert engagement.score_at(model, lead).engagement == 2


ORDER_MODEL = model_of(
    """
decay: {half_life: 9d, reset_after_inactive: 40d}
engagement_cap: 90
behaviour:
  - {name: v, activity: page_view, points: 2, repeat: {at_most: 2, per: day}, lifespan: 20d}
  - {name: p, activity: page_view, where: {url: "/pricing"}, points: 9, cap: 30}
  - {name: g, activity: content_download, points: 7, repeat: {at_most: 2, within: 5d}}
  - {name: w, activity: webinar_registered, points: 4, repeat: once}
  - {name: c, activity: page_view, where: {url: "/careers"}, points: -6}
counters:
  content: {match: [content_download], within: 10d}
triggers:
  activities: [{name: demo, activity: demo_request}]
  sequences: [{name: s, steps: [webinar_registered, content_download], within: 3d}]
  criteria: [{name: c, when: "count.content >= 3 && score >= 20"}]
""",
    threshold=45,
)
KINDS = [
    ("page_view", None),
    ("page_view", {"url": "/pricing"}),
    ("page_view", {"url": "/careers"}),
    ("content_download", None),
    ("webinar_registered", None),
    ("email_open", None),
]
events = st.lists(
    st.tuples(st.integers(0, 90 * 24), st.sampled_from(range(len(KINDS)))), min_size=1, max_size=25
)


def replay(order: list[tuple[int, int]]) -> Lead:
    lead = Lead("L-1")
    for hour, k in order:
        kind, props = KINDS[k]
        lifecycle.apply_activity(ORDER_MODEL, lead, T0 + hour * 3600.0, kind, props)
    return lead


@settings(max_examples=150, deadline=None)
@given(events, st.randoms(use_true_random=False))
def test_any_arrival_order_gives_the_score_of_time_order(
    evts: list[tuple[int, int]], rnd: object
) -> None:
    in_time = replay(sorted(evts, key=lambda e: e[0]))
    shuffled = list(evts)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    arrived = replay(shuffled)
    end = T0 + 100 * 24 * 3600.0
    for at in (None, end):
        assert engagement.score_at(ORDER_MODEL, arrived, at) == engagement.score_at(
            ORDER_MODEL, in_time, at
        )
    assert [e[:2] for e in arrived.history] == [e[:2] for e in in_time.history]


MONOTONE = model_of(
    """
decay: {half_life: 9d}
behaviour:
  - {name: v, activity: page_view, points: 5}
  - {name: g, activity: content_download, points: 11}
""",
    threshold=40,
)


@settings(max_examples=100, deadline=None)
@given(events, st.randoms(use_true_random=False))
def test_a_late_event_qualifies_a_lead_exactly_when_time_order_would(
    evts: list[tuple[int, int]], rnd: object
) -> None:
    # With only positive points an MQL fired early is never one that time order would not
    # fire, so whether the lead qualifies does not depend on arrival order.
    def run(order: list[tuple[int, int]]) -> Lead:
        lead = Lead("L-1")
        for hour, k in order:
            lifecycle.apply_activity(MONOTONE, lead, T0 + hour * 3600.0, *KINDS[k])
        return lead

    shuffled = list(evts)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    assert run(shuffled).is_mql == run(sorted(evts)).is_mql


@settings(max_examples=150, deadline=None)
@given(events, st.integers(1, 200 * 24))
def test_decay_never_increases_a_score(evts: list[tuple[int, int]], hours: int) -> None:
    positive = [e for e in evts if KINDS[e[1]][1] != {"url": "/careers"}]
    lead = replay(sorted(positive))
    last = lead.last_at
    if last is None:
        return
    before = engagement.engagement_at(ORDER_MODEL, lead, last)
    after = engagement.engagement_at(ORDER_MODEL, lead, last + hours * 3600.0)
    assert after <= before + 1e-9
