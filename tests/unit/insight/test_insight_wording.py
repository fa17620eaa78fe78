"""What a manager reads: open alerts as sentences in English and Japanese, reason labels,
and the cube that answers filtered funnels agreeing with the per-dimension rollup."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from handoff_insight.domain import funnel as f
from handoff_insight.domain.bands import Band
from handoff_insight.domain.kpis import reasons_of
from handoff_insight.domain.rollup import (
    CUBE_DIMENSIONS,
    contribution,
    cube_contribution,
    cube_delta,
    delta,
)
from handoff_insight.domain.wording import Alert, sentence_en, sentence_ja
from tests.factories import T0
from tests.insight_facts import journey, qualified

SLA = Band("accept_sla_missed", "sla_compliance_accept", below=0.9, min_samples=8)
LOOSE = Band("bar_too_loose", "acceptance_rate", at_or_above=1.0, min_samples=30)


def test_an_open_alert_reads_as_a_sentence_in_english_and_japanese() -> None:
    alert = Alert("accept_sla_missed", "sla_compliance_accept", "campaign", "X", 0.75, 8, 1)
    assert sentence_en(alert, SLA) == (
        "Accept SLA compliance 75.0% is under the 90% target — campaign X, 8 samples, last 1 day"
    )
    assert sentence_ja(alert, SLA) == (
        "受諾 SLA 遵守率 75.0% が目標 90% を下回っています（キャンペーン X、8 件、直近 1 日）"
    )


def test_an_upper_band_overall_says_its_limit_and_a_renamed_band_still_reads() -> None:
    alert = Alert("bar_too_loose", "acceptance_rate", "overall", "all", 1.0, 31, 30)
    assert sentence_en(alert, LOOSE) == (
        "Acceptance rate 100.0% is at or above the 100% limit — all MQLs, 31 samples, last 30 days"
    )
    assert sentence_ja(alert, LOOSE).startswith("受諾率 100.0% が上限 100% 以上です（全体、31 件")
    # A band no longer in config/insight.yaml: no bound to name, the rest still reads.
    assert sentence_en(alert, None) == "Acceptance rate 100.0% — all MQLs, 31 samples, last 30 days"


def test_reasons_are_labelled_most_frequent_first_and_unlabelled_codes_read_as_words() -> None:
    labels = {"no_budget": ("No budget", "予算なし")}
    reasons = reasons_of(Counter(no_budget=2, wrong_territory=3), 5, labels)
    assert [(r.code, r.count, r.share, r.label_en, r.label_ja) for r in reasons] == [
        ("wrong_territory", 3, 0.6, "wrong territory", "wrong territory"),
        ("no_budget", 2, 0.4, "No budget", "予算なし"),
    ]


def rows() -> list[tuple[f.FunnelRow | None, f.FunnelRow]]:
    """Four MQLs of two sources and campaigns, each taken from nothing to its outcome."""
    out: list[tuple[f.FunnelRow | None, f.FunnelRow]] = []
    for n, outcome in enumerate(("accepted", "sql", "rejected", "breached")):
        facts = journey(f"m{n}", f"h{n}", outcome, at=T0 + n * timedelta(days=1))
        facts[0] = qualified(
            f"m{n}", at=T0 + n * timedelta(days=1), source=("web", "ads")[n % 2], campaign=None
        )
        row = f.FunnelRow(f"m{n}")
        for x in facts:
            row = f.apply(row, x)
        out.append((None, row))
    return out


def test_the_cube_summed_by_any_dimension_gives_that_dimension_s_rollup() -> None:
    changes = rows()
    cube = cube_delta(changes)
    assert all(len(cell) == len(CUBE_DIMENSIONS) for _, cell, _ in cube)
    rollup = delta(changes)
    for i, dim in enumerate(CUBE_DIMENSIONS):
        summed: Counter[tuple[object, ...]] = Counter()
        for (day, cell, counter), n in cube.items():
            summed[(day, dim, cell[i], counter)] += n
        assert dict(summed) == {k: n for k, n in rollup.items() if k[1] == dim}, dim


def test_a_changed_row_moves_its_cube_counters_and_an_unchanged_one_adds_nothing() -> None:
    _, before = rows()[2]  # rejected
    assert before.rejected_at is not None
    # Reassigned and accepted 5 minutes after the rejection: 328 s after the assignment.
    after = f.apply(before, f.Accepted("h2", before.rejected_at + timedelta(minutes=5)))
    moved = cube_delta([(before, after)])
    assert {k[2]: n for k, n in moved.items()} == {
        "accepted": 1,
        "rejected": -1,
        "reason:no_budget": -1,
        "accept_secs:5": 1,  # the bucket up to 10 minutes
    }
    assert cube_delta([(before, before)]) == {}
    assert sum(cube_contribution(before).values()) == sum(
        n for k, n in contribution(before).items() if k[1] == "overall"
    )
