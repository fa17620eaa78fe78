"""The lead state codec and the split of a lead into running state and activity log: what one
release writes, the next reads, scores unchanged; and a lead applied batch by batch from its
stored state (its history loaded only when lifecycle.needs_history says so) ends exactly where
the same lead kept whole in memory ends, in any arrival order."""

from __future__ import annotations

import json
import marshal
from dataclasses import dataclass, field
from pathlib import Path

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from handoff_scoring.adapters import lead_state
from handoff_scoring.config import load_model
from handoff_scoring.domain import engagement, lifecycle
from handoff_scoring.domain.lead import Entry, HistoryNeeded, Lead
from handoff_scoring.domain.model import ScoringModel
from handoff_scoring.domain.triggers import Qualified
from tests.unit.scoring.test_scoring_rules import model_of
from tests.unit.scoring.test_scoring_triggers import KINDS, ORDER_MODEL

REPO = Path(__file__).resolve().parents[3]
MODEL = load_model(REPO / "config" / "scoring.yaml")
T0 = 1_795_000_000.0
HOUR = 3600.0


def busy_lead() -> Lead:
    lead = Lead("L-1")
    lifecycle.apply_identify(
        MODEL,
        lead,
        {"email": "a@sakura.co.jp", "title": "部長", "company": {"size": 120, "country": "JP"}},
        T0,
    )
    for i, (kind, props) in enumerate(
        [
            ("page_view", {"url": "/ja/pricing"}),
            ("content_download", {"asset": "case-study-x"}),
            ("email_click", {"campaign": "n-2"}),
            ("webinar_attended", None),
        ]
    ):
        lifecycle.apply_activity(MODEL, lead, T0 + HOUR * i, kind, props)
    engagement.score_at(MODEL, lead)  # folds the tally, as saving does
    return lead


def test_the_state_is_versioned_messagepack_without_the_history() -> None:
    lead = busy_lead()
    raw = lead_state.encode(lead)
    assert raw[:1] == lead_state.VERSION
    state = msgspec.msgpack.decode(raw[1:])
    assert "h" not in state  # the activities live in scoring.activities
    assert (
        state["n"] == 4 and state["nf"] == T0 and state["nl"] == [T0 + 3 * HOUR, "webinar_attended"]
    )
    assert state["kv"] == MODEL.version and state["t"]["title"] == "部長"


def test_a_lead_round_trips_with_the_same_tally_and_score() -> None:
    lead = busy_lead()
    back = lead_state.decode("L-1", lead_state.encode(lead))
    assert not back.complete and back.activity_count == 4 and back.history == []
    assert back.last_entry == (T0 + 3 * HOUR, "webinar_attended") and back.first_at == T0
    assert back.tally is not None and lead.tally is not None
    assert back.tally.dump() == lead.tally.dump() and back.progress == lead.progress
    assert back.traits == lead.traits and back.qualified_at == lead.qualified_at
    later = T0 + 10 * 86_400
    assert engagement.score_at(MODEL, back, later) == engagement.score_at(MODEL, lead, later)
    back.with_earlier(list(lead.history))
    assert back.complete and back.history == lead.history and back.saved == 4


def legacy_state(lead: Lead) -> dict[str, object]:
    """The state as releases before migration 0400 wrote it: the history inside."""
    assert lead.tally is not None
    return {
        "h": [list(e) for e in lead.history],
        "t": lead.traits,
        "ta": lead.traits_at,
        "c": lead.cycle,
        "k": lead.tally.dump(),
        "kv": lead.tally_model,
    }


@pytest.mark.parametrize("layout", ["marshal", "json"])
def test_a_row_written_before_the_activity_log_still_reads_and_moves_on_save(layout: str) -> None:
    lead = busy_lead()
    state = legacy_state(lead)
    raw = b"M" + marshal.dumps(state, 4) if layout == "marshal" else json.dumps(state).encode()
    back = lead_state.decode("L-1", raw)
    assert back.complete and back.history_replaced  # the next save writes it to the log
    assert [tuple(e) for e in back.history] == [tuple(e) for e in lead.history]
    assert engagement.score_at(MODEL, back) == engagement.score_at(MODEL, lead)
    moved = lead_state.decode("L-1", lead_state.encode(back))
    assert moved.activity_count == 4 and moved.tally is not None and moved.progress is not None


def test_an_in_order_activity_needs_no_history_and_a_late_one_does() -> None:
    stored = lead_state.decode("L-1", lead_state.encode(busy_lead()))
    later = lifecycle.Arrival([(T0 + 5 * HOUR, "page_view")])
    earlier = lifecycle.Arrival([(T0 + 5 * HOUR, "page_view"), (T0 + 2 * HOUR, "page_view")])
    assert not lifecycle.needs_history(MODEL, stored, later)
    assert lifecycle.needs_history(MODEL, stored, earlier)
    assert lifecycle.needs_history(MODEL, stored, lifecycle.Arrival([], merges=True))
    assert lifecycle.needs_history(MODEL, stored, lifecycle.Arrival([], sales=True))
    with pytest.raises(HistoryNeeded):
        lifecycle.apply_activity(MODEL, stored, T0 + HOUR, "page_view", None)


def test_a_new_model_or_a_history_due_for_trimming_needs_the_history() -> None:
    stored = lead_state.decode("L-1", lead_state.encode(busy_lead()))
    later = lifecycle.Arrival([(T0 + 5 * HOUR, "page_view")])
    assert lifecycle.needs_history(ORDER_MODEL, stored, later)  # another model version
    stored.earlier = int(MODEL.max_activities * (1 + lifecycle.TRIM_SLACK)) + 17
    assert lifecycle.needs_history(MODEL, stored, later)


def test_a_sequence_completes_from_the_stored_progress_as_from_the_history() -> None:
    whole = Lead("L-1")
    lifecycle.apply_activity(MODEL, whole, T0, "video_watched", {"asset": "demo-2026"})
    engagement.score_at(MODEL, whole)
    stored = lead_state.decode("L-1", lead_state.encode(whole))
    got = lifecycle.apply_activity(MODEL, stored, T0 + 86_400, "pricing_page_view")
    want = lifecycle.apply_activity(MODEL, whole, T0 + 86_400, "pricing_page_view")
    assert [(q.kind, q.rule) for q in got if isinstance(q, Qualified)] == [
        ("sequence", "demo-video-then-pricing")
    ]
    assert got == want


# Sequences only (the threshold is out of reach), over the kinds the events draw from, so
# whether and when a lead qualifies rests on the sequences' progress alone.
SEQUENCE_MODEL = model_of(
    """
behaviour:
  - {name: v, activity: page_view, points: 1}
triggers:
  sequences:
    - {name: three, steps: [page_view, content_download, page_view], within: 2d}
    - {name: pricing-twice, steps: [{activity: page_view, where: {url: "/pricing"}},
                                    {activity: page_view, where: {url: "/pricing"}}], within: 1d}
""",
    threshold=10_000,
)


def test_a_later_chain_counts_when_an_earlier_one_went_stale() -> None:
    # page_view, content_download, then two days of nothing: that chain is out of the window;
    # the next page_view, content_download, page_view completes a chain of its own.
    steps = [
        (0, "page_view"),
        (1, "content_download"),
        (100, "page_view"),
        (101, "content_download"),
    ]
    whole = Lead("L-1")
    for hour, kind in steps:
        assert not lifecycle.apply_activity(SEQUENCE_MODEL, whole, T0 + hour * HOUR, kind)
    engagement.score_at(SEQUENCE_MODEL, whole)
    stored = lead_state.decode("L-1", lead_state.encode(whole))
    for lead in (whole, stored):
        (q,) = lifecycle.apply_activity(SEQUENCE_MODEL, lead, T0 + 102 * HOUR, "page_view")
        assert isinstance(q, Qualified) and q.rule == "three"


@dataclass
class Store:
    """scoring.leads and scoring.activities for one lead, as leads.py keeps them."""

    model: ScoringModel
    state: bytes | None = None
    log: list[Entry] = field(default_factory=list)

    def load(self, arrival: lifecycle.Arrival) -> Lead:
        if self.state is None:
            return Lead("L-1")
        lead = lead_state.decode("L-1", self.state)
        if lifecycle.needs_history(self.model, lead, arrival):
            lead.with_earlier(list(self.log))
        return lead

    def save(self, lead: Lead) -> None:
        engagement.score_at(self.model, lead)  # as persist does before saving
        if lead.history_replaced:
            self.log = list(lead.history)
        else:
            self.log += lead.history[lead.saved :]
        self.state = lead_state.encode(lead)


def outcomes_of(out: list[lifecycle.Outcome]) -> list[tuple[str, float, str]]:
    return [(o.kind, o.at, o.rule) for o in out if isinstance(o, Qualified)]


@pytest.mark.parametrize("model", [ORDER_MODEL, SEQUENCE_MODEL], ids=["rules", "sequences"])
@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 6 * 24), st.sampled_from(range(len(KINDS)))),
        min_size=1,
        max_size=30,
    ),
    st.lists(st.integers(1, 6), min_size=1, max_size=30),
    st.randoms(use_true_random=False),
    st.booleans(),
)
def test_batches_through_the_store_end_where_the_whole_lead_ends(
    model: ScoringModel,
    evts: list[tuple[int, int]],
    sizes: list[int],
    rnd: object,
    in_time: bool,
) -> None:
    if in_time:  # every batch in order: the history is never loaded
        evts.sort(key=lambda e: e[0])
    else:
        rnd.shuffle(evts)  # type: ignore[attr-defined]
    whole = Lead("L-1")
    store = Store(model)
    said_whole: list[tuple[str, float, str]] = []
    said_stored: list[tuple[str, float, str]] = []
    i = 0
    for size in [*sizes, len(evts)]:
        batch = sorted(evts[i : i + size], key=lambda e: e[0])  # the handler's time order
        i += size
        if not batch:
            continue
        arrival = lifecycle.Arrival([(T0 + h * HOUR, KINDS[k][0]) for h, k in batch])
        lead = store.load(arrival)
        for hour, k in batch:
            kind, props = KINDS[k]
            at = T0 + hour * HOUR
            said_whole += outcomes_of(lifecycle.apply_activity(model, whole, at, kind, props))
            said_stored += outcomes_of(lifecycle.apply_activity(model, lead, at, kind, props))
        store.save(lead)
    assert said_stored == said_whole
    final = lead_state.decode("L-1", store.state or b"")
    engagement.score_at(model, whole)
    assert final.progress == whole.progress
    final.with_earlier(list(store.log))
    assert [e[:2] for e in final.history] == [e[:2] for e in whole.history]
    later = T0 + 30 * 24 * HOUR
    assert engagement.score_at(model, final) == engagement.score_at(model, whole)
    assert engagement.score_at(model, final, later) == engagement.score_at(model, whole, later)
