"""Every event routing publishes (adapters/events_out.py), the hot path's plain dicts included, is
the very bytes its model writes, reads back through the CloudEvents SDK, and carries its
decision steps in the one form the handoffs table stores (adapters/decision_codec.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import get_args

import pytest
from cloudevents.core.bindings.kafka import KafkaMessage, from_kafka_event

from handoff.events import routing as ev
from handoff.events.encode import fact_id
from handoff.events.envelope import parse_event
from handoff.messaging.producer import Message
from handoff_routing.adapters import decision_codec, events_out
from handoff_routing.domain.decision import DecisionStep
from handoff_routing.domain.handoff import Handoff, HandoffState
from handoff_routing.domain.roster import Candidate, Pool, Rep, Roster

# Microseconds must come out as the models write them.
T0 = datetime(2026, 11, 21, 10, 0, 0, 123456, tzinfo=UTC)
LATER = T0 + timedelta(minutes=4)
STEPS = (
    DecisionStep("accounts", False, note="no account for kanari.example"),
    DecisionStep(
        "japan",
        True,
        "japan",
        (Candidate("yui", "out of office"), Candidate("aiko")),
    ),
)
ROSTER = Roster(
    reps={"aiko": Rep("aiko", "Aiko", "aiko@example.com", "japan", True, "boss")},
    pools={"japan": Pool("japan", ("yui", "aiko"))},
    default_pool="japan",
)


def handoff(**fields: object) -> Handoff:
    h = Handoff(
        handoff_id="h-1",
        lead_id="L-1",
        mql_id="mql-1",
        state=HandoffState.ASSIGNED,
        rep_id="aiko",
        pool="japan",
        rule="japan",
        created_at=T0,
        updated_at=T0,
        assigned_at=T0,
        decision=STEPS,
        trigger="score",
        fit_grade="A",
    )
    for name, value in fields.items():
        setattr(h, name, value)
    return h


def every_event() -> list[tuple[str, Message]]:
    waiting = handoff(state=HandoffState.UNASSIGNED, rep_id=None, assigned_at=None)
    rejected = handoff(
        state=HandoffState.REJECTED, reason_code="no_budget", note="next year", follow_up="recycled"
    )
    recycled = handoff(recycle_until=LATER + timedelta(days=90))
    following = handoff(handoff_id="h-2", rep_id=None)
    return [
        ("handoff.lead.assigned", events_out.assignment(handoff(), ROSTER)),
        ("handoff.lead.unassigned", events_out.assignment(waiting, ROSTER)),
        ("handoff.lead.accepted", events_out.accepted(handoff(), LATER)),
        ("handoff.lead.rejected", events_out.rejected(rejected, LATER)),
        ("handoff.lead.contacted", events_out.contacted(handoff(channel="phone"), LATER)),
        ("handoff.lead.dispositioned", events_out.dispositioned(handoff(outcome="sql"), LATER)),
        ("handoff.lead.recycled", events_out.recycled(recycled, LATER)),
        ("handoff.lead.reassigned", events_out.reassigned(handoff(), following, LATER, "sla")),
    ]


def test_routing_publishes_every_routing_event_type() -> None:
    union = get_args(get_args(ev.RoutingEvent)[0])
    types = {get_args(model.model_fields["type"].annotation)[0] for model in union}
    assert {kind for kind, _ in every_event()} == types and len(types) == 8


@pytest.mark.parametrize(("kind", "message"), every_event(), ids=lambda v: getattr(v, "topic", v))
def test_each_event_is_its_model_s_bytes_and_reads_back_through_the_sdk(
    kind: str, message: Message
) -> None:
    event = parse_event(ev.routing_event_adapter, message.value)
    assert (event.type, event.subject, message.topic, message.key) == (
        kind,
        "L-1",
        ev.TOPIC,
        b"L-1",
    )
    assert event.id == fact_id(kind.removeprefix("handoff.lead."), "h-1")
    assert message.value == event.to_json()  # the models would write the very same bytes

    sdk = from_kafka_event(KafkaMessage({}, message.key, message.value))
    assert (sdk.get_type(), sdk.get_id(), sdk.get_subject()) == (kind, event.id, "L-1")
    assert sdk.get_time() == event.time


def test_an_assignment_carries_the_steps_in_the_form_the_handoffs_table_stores() -> None:
    data = json.loads(events_out.assignment(handoff(), ROSTER).value)["data"]
    assert (
        data["decision"]
        == decision_codec.encode(STEPS)
        == [
            {
                "rule": "accounts",
                "matched": False,
                "candidates": [],
                "note": "no account for kanari.example",
            },
            {
                "rule": "japan",
                "matched": True,
                "pool": "japan",
                "candidates": [{"rep_id": "yui", "skipped": "out of office"}, {"rep_id": "aiko"}],
            },
        ]
    )
    assert (data["team"], data["manager_id"], data["assigned_at"]) == (
        "japan",
        "boss",
        "2026-11-21T10:00:00.123456Z",
    )


def test_decision_steps_read_back_from_the_one_form_and_from_rows_written_with_nulls() -> None:
    assert decision_codec.decode(decision_codec.encode(STEPS)) == STEPS
    # Rows written before the one form kept every field, absent ones as null.
    legacy = [
        {
            "rule": s.rule,
            "matched": s.matched,
            "pool": s.pool,
            "candidates": [{"rep_id": c.rep_id, "skipped": c.skipped} for c in s.candidates],
            "note": s.note,
        }
        for s in STEPS
    ]
    assert decision_codec.decode(legacy) == STEPS


def test_the_api_s_steps_are_the_same_steps() -> None:
    shown = [m.model_dump(exclude_none=True) for m in decision_codec.models(STEPS)]
    assert shown == decision_codec.encode(STEPS)
