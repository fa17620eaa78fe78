"""Every event scoring publishes is built in adapters/events_out.py: each type is its model's
bytes on handoff.scoring.v1, keyed by lead, with the same id whenever the same fact is
published again, and reads back through the CloudEvents SDK."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import get_args

import pytest
from cloudevents.core.bindings.kafka import KafkaMessage, from_kafka_event

from handoff.events import scoring as ev
from handoff.events.envelope import parse_event
from handoff.messaging.producer import Message
from handoff_scoring.adapters import events_out
from handoff_scoring.config import load_model
from handoff_scoring.domain import lifecycle
from handoff_scoring.domain.engagement import score_at
from handoff_scoring.domain.lead import Lead
from handoff_scoring.domain.lifecycle import Disqualified
from handoff_scoring.domain.triggers import Qualified

REPO = Path(__file__).resolve().parents[3]
SHIPPED = load_model(REPO / "config" / "scoring.yaml")
T0 = datetime(2026, 11, 21, 10, 0, tzinfo=UTC).timestamp()


def every_event() -> list[tuple[str, Message]]:
    lead = Lead("L-1")
    lifecycle.apply_identify(SHIPPED, lead, {"title": "CTO", "email": "a@kanari.example"}, T0)
    lifecycle.apply_activity(SHIPPED, lead, T0 + 1, "page_view", {"source": "hubspot"})
    (q,) = lifecycle.apply_activity(SHIPPED, lead, T0 + 2, "demo_request")
    assert isinstance(q, Qualified)
    gone = Disqualified("L-1", 1, T0 + 3, "competitor", "competitors")
    erased_at = datetime(2026, 11, 22, tzinfo=UTC)
    events: list[events_out.ScoringEvent] = [
        events_out.mql_event(SHIPPED, lead, q),
        events_out.disqualified_event(SHIPPED, gone),
        events_out.score_changed_event(SHIPPED, "L-1", score_at(SHIPPED, lead), None),
        events_out.erased_event("L-1", ["anon-1"], erased_at, "privacy-officer"),
    ]
    return [(e.type, m) for e, m in zip(events, events_out.messages(events), strict=True)]


def test_scoring_publishes_every_scoring_event_type() -> None:
    union = get_args(get_args(ev.ScoringEvent)[0])
    types = {get_args(model.model_fields["type"].annotation)[0] for model in union}
    assert {kind for kind, _ in every_event()} == types and len(types) == 4


@pytest.mark.parametrize(("kind", "message"), every_event(), ids=lambda v: getattr(v, "topic", v))
def test_each_event_is_its_model_s_bytes_and_reads_back_through_the_sdk(
    kind: str, message: Message
) -> None:
    event = parse_event(ev.scoring_event_adapter, message.value)
    assert (event.type, event.subject, message.topic, message.key) == (
        kind,
        "L-1",
        ev.TOPIC,
        b"L-1",
    )
    assert message.value == event.to_json()
    sdk = from_kafka_event(KafkaMessage({}, message.key, message.value))
    assert (sdk.get_type(), sdk.get_id(), sdk.get_subject()) == (kind, event.id, "L-1")
    assert sdk.get_time() == event.time


def test_the_same_fact_keeps_its_id_and_the_mql_names_its_attribution() -> None:
    first, again = every_event(), every_event()
    assert [m.value for _, m in first] == [m.value for _, m in again]
    mql = parse_event(ev.scoring_event_adapter, first[0][1].value)
    assert mql.data.mql_id == mql.id == events_out.mql_id("L-1", 1)
    assert (mql.data.source, mql.data.trigger.kind) == ("hubspot", "activity")


def test_an_erasure_scrubs_the_traits_an_mql_carries() -> None:
    event = json.loads(every_event()[0][1].value)
    assert events_out.scrub_event(event) == ["data.traits"] and "traits" not in event["data"]
