"""Poison records produced straight to the topics go to the DLQ; the next good lead is still
scored and routed (the three services as processes, real broker and PostgreSQL)."""

from __future__ import annotations

import json
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer

from handoff.events import dlq_topic, routing, scoring, signals
from tests.e2e.conftest import System
from tests.e2e.test_handoff_flow import events_of, of_type, signal
from tests.factories import activity, identify, mql, new_id
from tests.integration.kafka_helpers import collect


def _with(event: Any, change: Any) -> bytes:
    value = json.loads(event.to_json())
    change(value)
    return json.dumps(value).encode()


def _set(path: str, new: Any) -> Any:
    def change(value: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        for name in parents:
            value = value[name]
        value[last] = new

    return change


def poison_signals(lead: str) -> list[bytes]:
    """Each of the reported inputs that used to stop the scoring consumer for ever."""
    return [
        _with(activity(lead), _set("source", "/ma\x00tool")),
        _with(activity(lead), _set("id", "evt-\x00")),
        _with(activity(lead), _set("data.lead_id", "L\x00")),
        _with(identify(lead, email="ada@exam\x00ple.com"), lambda v: None),
        _with(activity(lead), _set("data.occurred_at", "9999-12-31T23:59:59-14:00")),
        _with(activity(lead), _set("data.occurred_at", "0001-01-01T00:00:00+14:00")),
    ]


async def _produce(bootstrap: str, topic: str, key: str, values: list[bytes]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for value in values:
            await producer.send_and_wait(topic, value, key=key.encode())
    finally:
        await producer.stop()


async def _assigned(system: System, lead: str) -> list[routing.LeadAssigned]:
    found = await events_of(
        system,
        routing.TOPIC,
        routing.routing_event_adapter,
        lead,
        lambda es: of_type(es, routing.LeadAssigned),
        within=60,
    )
    return of_type(found, routing.LeadAssigned)


async def _qualify(system: System, http: httpx.AsyncClient, lead: str) -> None:
    resp = await http.post(
        f"{system.ingress.url}/v1/signals",
        json={"signals": [signal(lead, "pricing_page_view"), signal(lead, "demo_request")]},
    )
    assert resp.status_code == 202, resp.text


async def test_poison_signals_are_dead_lettered_and_the_next_lead_is_scored_and_routed(
    system: System, http: httpx.AsyncClient
) -> None:
    assert system.stack.bootstrap
    lead = new_id("P")
    # Same key as the good lead: the same partition, ahead of its signals.
    poison = poison_signals(lead)
    await _produce(system.stack.bootstrap, signals.TOPIC, lead, poison)
    await _qualify(system, http, lead)

    assigned = await _assigned(system, lead)
    assert len(assigned) == 1, "the good lead after the poison was scored and routed"
    dead = await collect(
        system.stack.bootstrap,
        dlq_topic(signals.TOPIC),
        lambda rs: len(rs) >= len(poison),
        keys={lead.encode()},
    )
    assert sorted(r.value for r in dead) == sorted(poison)
    errors = [dict(r.headers)["handoff-dlq-error"].decode() for r in dead]
    assert sum("nul_character" in e for e in errors) == 4
    assert sum("datetime_out_of_range" in e for e in errors) == 2
    assert all("ada@" not in e for e in errors), "the error never carries the value"
    score = await http.get(f"{system.scoring.url}/v1/leads/{lead}/score")
    assert score.json()["mql"]["state"] == "mql"


async def test_an_mql_with_a_nul_in_its_traits_is_dead_lettered_by_routing(
    system: System, http: httpx.AsyncClient
) -> None:
    assert system.stack.bootstrap
    lead = new_id("P")
    bad = _with(mql(lead), _set("data.traits", {"email": "ada@exam\x00ple.com"}))
    await _produce(system.stack.bootstrap, scoring.TOPIC, lead, [bad])
    await _qualify(system, http, lead)

    assigned = await _assigned(system, lead)
    assert len(assigned) == 1, "routing moved past the poison MQL and assigned the good one"

    # Every consumer group of the topic (routing, insight) dead-letters it on its own: one
    # dead letter per group, each naming its consumer.
    def by_routing(records: list[Any]) -> list[Any]:
        return [r for r in records if dict(r.headers)["handoff-dlq-consumer"] == b"handoff-routing"]

    dead = await collect(
        system.stack.bootstrap,
        dlq_topic(scoring.TOPIC),
        lambda rs: len(by_routing(rs)) >= 1,
        keys={lead.encode()},
    )
    mine = by_routing(dead)
    assert len(mine) == 1
    headers = dict(mine[0].headers)
    assert mine[0].value == bad
    assert b"nul_character" in headers["handoff-dlq-error"]
