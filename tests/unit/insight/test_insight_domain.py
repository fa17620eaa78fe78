"""insight's pure domain: the funnel fold, every KPI formula, band transitions and the what-if."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from handoff_insight.domain import funnel as f
from handoff_insight.domain.bands import Band, judge, measure, transition
from handoff_insight.domain.kpis import kpis, percentile
from handoff_insight.domain.rollup import bucket_of, contribution, counters, delta
from handoff_insight.domain.whatif import ScoreOutcomes, thresholds, what_if
from tests.factories import T0
from tests.insight_facts import journey, qualified

S = timedelta(seconds=1)


def totals(facts: list[f.Fact]) -> Counter[str]:
    """Fold facts per MQL (as the handler does) and sum every row's overall counters."""
    rows: dict[str, f.FunnelRow] = {}
    links = {x.handoff_id: x.mql_id for x in facts if isinstance(x, f.Assigned)}
    for x in facts:
        mql_id = x.mql_id if isinstance(x, f.Qualified | f.Assigned) else links[x.handoff_id]
        rows[mql_id] = f.apply(rows.get(mql_id, f.FunnelRow(mql_id)), x)
    out: Counter[str] = Counter()
    for row in rows.values():
        out.update(counters(row))
    return out


def test_a_rejection_before_the_assignment_lands_in_the_same_row() -> None:
    in_order = f.fold(f.FunnelRow("m1"), journey("m1", "h1", "rejected"))
    rejected_first = f.fold(f.FunnelRow("m1"), list(reversed(journey("m1", "h1", "rejected"))))
    assert rejected_first == in_order
    assert (in_order.decision, in_order.reason_code, in_order.pool) == (
        "rejected",
        "no_budget",
        "jp",
    )


def test_the_later_decision_wins_when_a_reassignment_brings_both() -> None:
    row = f.fold(
        f.FunnelRow("m1"),
        [f.Rejected("h1", T0 + S, "wrong_territory"), f.Accepted("h2", T0 + 5 * S)],
    )
    assert row.decision == "accepted"
    row = f.apply(row, f.Rejected("h2", T0 + 9 * S, "no_budget"))
    assert (row.decision, row.reason_code) == ("rejected", "no_budget")


def test_the_latest_assignment_names_the_rep_and_the_first_sets_the_clock() -> None:
    row = f.fold(
        f.FunnelRow("m1"),
        [
            f.Assigned("m1", "h2", "rep-2", "us", None, T0 + 9 * S),
            f.Assigned("m1", "h1", "rep-1", "jp", "a", T0),
        ],
    )
    assert (row.rep_id, row.pool, row.handoff_id, row.assigned_at) == ("rep-2", "us", "h2", T0)


def test_a_row_counts_only_once_its_mql_is_known() -> None:
    row = f.fold(f.FunnelRow("m1"), journey("m1", "h1", "sql")[1:])
    assert counters(row) == Counter()
    assert contribution(row) == Counter()


def test_counters_of_an_mql_that_became_sql() -> None:
    row = f.fold(f.FunnelRow("m1"), journey("m1", "h1", "sql"))
    c = counters(row)
    assert c == Counter(
        {
            "mqls": 1,
            "assigned": 1,
            "accepted": 1,
            "sal_sql": 1,
            "sql": 1,
            f"accept_secs:{bucket_of(60)}": 1,
            f"contact_secs:{bucket_of(199)}": 1,
            "sla_met:accept": 1,
        }
    )


def test_a_breach_stands_even_when_the_rep_answered_late() -> None:
    row = f.fold(
        f.FunnelRow("m1"),
        [*journey("m1", "h1", "breached"), f.SlaMet("h1", "accept", T0 + 900 * S, 899, 899)],
    )
    c = counters(row)
    assert (c["sla_breached:accept"], c["sla_met:accept"], c["breaches"], c["escalations"]) == (
        1,
        0,
        1,
        1,
    )


def test_every_kpi_formula() -> None:
    facts: list[f.Fact] = []
    outcomes = ["accepted"] * 3 + ["sql"] * 2 + ["rejected"] * 4 + ["breached"] + ["open"] * 2
    for n, outcome in enumerate(outcomes):
        facts += journey(f"m{n}", f"h{n}", outcome)
    facts += [
        f.Dispositioned("h0", T0 + 99 * S, "recycle"),
        f.Dispositioned("h1", T0 + 99 * S, "disqualified"),
    ]
    k = kpis(totals(facts), {"no_budget": ("No budget", "予算なし")})
    assert (k.mqls, k.accepted, k.rejected, k.decided, k.sql, k.sal_sql) == (12, 5, 4, 9, 2, 2)
    assert k.acceptance_rate == 5 / 9
    assert k.rejection_rate == 4 / 9
    assert k.mql_to_sql == 2 / 12
    assert k.sal_to_sql == 2 / 5
    assert k.recycle_share == 1 / 12
    assert k.disqualify_share == 1 / 12
    accept = k.sla_of("accept")
    assert (accept.met, accept.breached, accept.compliance) == (9, 1, 0.9)
    assert (k.breaches, k.escalations) == (1, 1)
    assert [(r.code, r.count, r.share, r.label_en, r.label_ja) for r in k.reasons] == [
        ("no_budget", 4, 1.0, "No budget", "予算なし")
    ]
    # All five acceptances took 60 s: the median lies inside the 30-60 s bucket.
    assert k.time_to_accept_p50 is not None and 30 <= k.time_to_accept_p50 <= 60
    assert k.time_to_contact_p90 is not None and 120 <= k.time_to_contact_p90 <= 300


def test_a_rate_without_a_denominator_is_none_not_zero() -> None:
    k = kpis({})
    assert (k.acceptance_rate, k.mql_to_sql, k.sal_to_sql, k.sla_of("accept").compliance) == (
        None,
    ) * 4
    assert k.time_to_accept_p50 is None


def test_percentile_interpolates_inside_a_bucket() -> None:
    assert percentile({bucket_of(45): 2}, 0.5) == 45.0  # half way through the 30-60 s bucket
    assert percentile({0: 1, bucket_of(5000): 1}, 0.9) is not None


def test_rollup_delta_moves_a_row_from_open_to_accepted() -> None:
    old = f.fold(f.FunnelRow("m1"), journey("m1", "h1", "open"))
    new = f.apply(old, f.Accepted("h1", T0 + 61 * S))
    d = delta([(old, new)])
    day = T0.date()
    assert d[(day, "overall", "all", "accepted")] == 1
    assert d[(day, "pool", "jp", "accepted")] == 1
    assert (day, "overall", "all", "mqls") not in d  # unchanged counters are not written


BAND = Band("misaligned", "acceptance_rate", below=0.10, min_samples=10)
LOOSE = Band("bar_too_loose", "acceptance_rate", at_or_above=1.0, min_samples=10)


def test_a_band_is_judged_only_with_enough_samples() -> None:
    assert judge(BAND, 0.05, 9) is None
    assert judge(BAND, 0.05, 10) is True
    assert judge(BAND, 0.10, 10) is False  # the bound itself is healthy
    assert judge(LOOSE, 1.0, 10) is True
    assert judge(LOOSE, 0.99, 10) is False
    assert judge(BAND, None, 50) is None


def test_transitions_fire_once_per_change_and_never_while_the_state_holds() -> None:
    assert transition(False, True) == "raised"
    assert transition(True, True) is None
    assert transition(True, False) == "cleared"
    assert transition(False, False) is None
    assert transition(True, None) is None  # too few samples: the raised alert stays, silently
    assert transition(False, None) is None


def test_measure_names_the_denominator_of_each_metric() -> None:
    k = kpis(
        {
            "mqls": 10,
            "accepted": 3,
            "rejected": 1,
            "sql": 2,
            "sal_sql": 1,
            "sla_met:accept": 4,
            "sla_breached:accept": 1,
        }
    )
    assert measure(k, "acceptance_rate") == (0.75, 4)
    assert measure(k, "mql_to_sql") == (0.2, 10)
    assert measure(k, "sal_to_sql") == (1 / 3, 3)
    assert measure(k, "sla_compliance_accept") == (0.8, 5)


def test_what_if_raises_the_bar_and_marks_thin_rows() -> None:
    by_score = {
        60: ScoreOutcomes(mqls=10, accepted=2, decided=10, sql=0),
        80: ScoreOutcomes(mqls=5, accepted=5, decided=5, sql=3),
    }
    rows = what_if(by_score, min_decided=8, steps=4)
    assert [r.threshold for r in rows] == [60, 65, 70, 75, 80]
    assert (rows[0].mqls, rows[0].acceptance_rate, rows[0].sql_rate, rows[0].too_few) == (
        15,
        7 / 15,
        3 / 15,
        False,
    )
    assert (rows[-1].mqls, rows[-1].acceptance_rate, rows[-1].sql_rate, rows[-1].too_few) == (
        5,
        1.0,
        0.6,
        True,
    )
    assert thresholds([]) == []


OUTCOMES = st.sampled_from(["accepted", "sql", "rejected", "breached", "open"])


@settings(max_examples=60, deadline=None)
@given(st.lists(OUTCOMES, min_size=1, max_size=12), st.randoms(use_true_random=False))
def test_any_order_of_the_same_events_gives_the_same_kpis(outcomes: list[str], rnd: object) -> None:
    facts: list[f.Fact] = []
    for n, outcome in enumerate(outcomes):
        facts += journey(f"m{n}", f"h{n}", outcome, at=T0 + n * timedelta(hours=7))
    shuffled = list(facts)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    assert totals(shuffled) == totals(facts)
    assert kpis(totals(shuffled)) == kpis(totals(facts))
    # ... and the rollup keys (days and groups) agree too.
    rows_a = _rows(facts)
    rows_b = _rows(shuffled)
    assert rows_a == rows_b


def _rows(facts: list[f.Fact]) -> dict[str, f.FunnelRow]:
    rows: dict[str, f.FunnelRow] = {}
    links = {x.handoff_id: x.mql_id for x in facts if isinstance(x, f.Assigned)}
    for x in facts:
        mql_id = x.mql_id if isinstance(x, f.Qualified | f.Assigned) else links[x.handoff_id]
        rows[mql_id] = f.apply(rows.get(mql_id, f.FunnelRow(mql_id)), x)
    return rows


def test_a_qualified_fact_carries_the_attribution() -> None:
    row = f.apply(f.FunnelRow("m9"), qualified("m9", source="hubspot", campaign="jp-seminar"))
    assert (row.source, row.campaign) == ("hubspot", "jp-seminar")
