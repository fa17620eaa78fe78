"""The lead state codec: what one release writes, the next reads, scores unchanged."""

from __future__ import annotations

import json
from pathlib import Path

from handoff_scoring.adapters import lead_state
from handoff_scoring.config import load_model
from handoff_scoring.domain import engagement, lifecycle
from handoff_scoring.domain.lead import Lead

REPO = Path(__file__).resolve().parents[3]
MODEL = load_model(REPO / "config" / "scoring.yaml")
T0 = 1_795_000_000.0


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
        lifecycle.apply_activity(MODEL, lead, T0 + 3600 * i, kind, props)
    return lead


def test_a_lead_round_trips_with_the_same_history_tally_and_score() -> None:
    lead = busy_lead()
    raw = lead_state.encode(lead)
    assert raw[:1] == lead_state.MARSHAL
    back = lead_state.decode("L-1", raw)
    assert [tuple(e) for e in back.history] == [tuple(e) for e in lead.history]
    assert back.tally is not None and lead.tally is not None
    assert back.tally.dump() == lead.tally.dump()
    assert back.traits == lead.traits and back.qualified_at == lead.qualified_at
    later = T0 + 10 * 86_400
    assert engagement.score_at(MODEL, back, later) == engagement.score_at(MODEL, lead, later)


def test_state_written_as_json_by_earlier_releases_still_reads() -> None:
    lead = busy_lead()
    state = json.loads(json.dumps(lead_state._loads(lead_state.encode(lead))))
    back = lead_state.decode("L-1", json.dumps(state).encode())
    assert [tuple(e) for e in back.history] == [tuple(e) for e in lead.history]
    assert engagement.score_at(MODEL, back) == engagement.score_at(MODEL, lead)


def test_a_value_marshal_refuses_is_written_as_json() -> None:
    class Text(str):
        pass

    lead = busy_lead()
    lead.traits["title"] = Text("VP")
    raw = lead_state.encode(lead)
    assert raw[:1] == b"{"
    assert lead_state.decode("L-1", raw).traits["title"] == "VP"
