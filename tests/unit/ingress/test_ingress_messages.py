"""The fast signal record (events_out.to_message) is byte for byte the CloudEvent model's own JSON."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from cloudevents.core.bindings.kafka import KafkaMessage, from_kafka_event

from handoff.events import signals as sig
from handoff.http.problem import Problem
from handoff.messaging.producer import Message
from handoff_ingress.adapters.events_out import to_event, to_message
from handoff_ingress.domain.signals import SignalIn
from handoff_ingress.entrypoints.api import parse_signals

CASES: list[dict[str, Any]] = [
    {"type": "page_view"},
    {"type": "pricing_page_view", "source": "hubspot", "properties": {"url": "/p", "n": None}},
    {
        "type": "form_submit",
        "properties": {"nested": {"a": [1, None, "x"]}, "ok": True, "f": 1.5},
        "traits": {"email": "a@b.example", "title": None, "company": {"name": "Acme", "size": 10}},
    },
    {"type": "webinar", "traits": {"custom": "kept", "company": {"extra": 1}}},
    {"type": "identify", "traits": {"name": "N"}},
    {"type": "alias", "previous_id": "anon-1"},
]


def _same_but_time(fast: bytes, model: bytes) -> None:
    a, b = json.loads(fast), json.loads(model)
    assert a.pop("time").endswith("Z") and b.pop("time").endswith("Z")
    assert a == b
    # Byte order too: the same keys in the same order once the time is aligned.
    assert fast.replace(json.loads(fast)["time"].encode(), b"T") == model.replace(
        json.loads(model)["time"].encode(), b"T"
    )


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("zone", [UTC, timezone(timedelta(hours=-5))])
def test_to_message_matches_the_cloudevent_model(case: dict[str, Any], zone: timezone) -> None:
    s = SignalIn.model_validate(
        {"id": "e-1", "lead_id": "L-1", "occurred_at": datetime(2026, 11, 2, 9, 30, tzinfo=zone)}
        | case
    )
    for kwargs in ({}, {"ce_source": "/handoff/webhooks/x", "event_id": "fixed"}):
        fast = to_message(s, **kwargs)
        model = Message.of(sig.TOPIC, to_event(s, **kwargs))
        assert (fast.topic, fast.key, fast.headers) == (model.topic, model.key, model.headers)
        _same_but_time(fast.value, model.value)
        parsed = sig.signal_adapter.validate_json(fast.value)
        assert parsed.subject == "L-1"
        sdk = from_kafka_event(KafkaMessage(dict(fast.headers), fast.key, fast.value))
        assert (sdk.get_type(), sdk.get_id(), sdk.get_subject()) == (
            parsed.type,
            parsed.id,
            "L-1",
        )


def test_to_message_names_the_missing_field() -> None:
    s = SignalIn.model_validate(
        {"id": "e", "lead_id": "L", "type": "identify", "occurred_at": "2026-11-02T09:30:00Z"}
    )
    with pytest.raises(ValueError, match="traits"):
        to_message(s)


def test_a_batch_parses_to_the_same_signals_either_way() -> None:
    items = [
        {"id": f"e{n}", "lead_id": "L", "occurred_at": "2026-11-02T09:30:00+02:00"} | c
        for n, c in enumerate(CASES)
    ]
    body = json.dumps({"signals": items}).encode()
    assert parse_signals(body) == [SignalIn.model_validate(i) for i in items]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b'{"signals": [{"id": "e", "lead_id": "L", "type": "Bad", "occurred_at": "x"}]}', "type"),
        (b'{"signals": [{"id": "e", "lead_id": "L", "type": "a", "occurred_at": NaN}]}', "occ"),
        (b'{"signals": [], "extra": 1}', "signals"),
    ],
)
def test_a_refused_batch_still_names_the_field(body: bytes, field: str) -> None:
    with pytest.raises(Problem) as caught:
        parse_signals(body)
    assert caught.value.status == 422
    assert field in str(caught.value.detail)


@pytest.mark.parametrize("case", CASES)
def test_one_signal_parses_to_the_same_signal_either_way(case: dict[str, Any]) -> None:
    item = {"id": "e", "lead_id": "L", "occurred_at": "2026-11-02T09:30:00+02:00"} | case
    assert parse_signals(json.dumps(item).encode()) == [SignalIn.model_validate(item)]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b'{"id": "e", "lead_id": "L", "type": "a", "occurred_at": NaN}', "occurred_at"),
        (
            b'{"id": "e", "lead_id": "L", "type": "a", "occurred_at": "2026-11-02T09:30:00Z", "k": 1}',
            "k",
        ),
        (b'{"id": "e", "type": "a", "occurred_at": "2026-11-02T09:30:00Z"}', "lead_id"),
        (
            b'{"id": "e", "lead_id": "L", "type": "a", "occurred_at": "2026-11-02T09:30:00Z", '
            b'"properties": {"n": NaN}}',
            "properties.n",
        ),
        (b'{"id": "e", ', "body"),
    ],
)
def test_a_refused_signal_still_names_the_field(body: bytes, field: str) -> None:
    with pytest.raises(Problem) as caught:
        parse_signals(body)
    assert caught.value.status == 422
    assert caught.value.errors[0]["field"] == field
