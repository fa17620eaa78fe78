"""The privacy canary: a made-up person's email, name and note, posted through signals, webhooks,
a reject note, bad requests and poison records, never shows in any service's logs, /metrics,
error bodies or dead-letter headers; and after DELETE /v1/leads/{id} it is in no table of any
schema. The services run as processes on the session's PostgreSQL and broker.

The canary rides only in personal fields (traits, properties, notes); what makes a bad request
bad is another field, so an error may name that field's value but never echo the whole input.
"""

from __future__ import annotations

import json
import uuid
from functools import partial
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer, ConsumerRecord
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from handoff.events import commands, dlq_topic, routing, scoring, signals
from tests.e2e.conftest import System
from tests.e2e.test_handoff_flow import events_of, of_type, signal
from tests.factories import new_id
from tests.ingress_senders import (
    hubspot_request,
    marketo_request,
    segment_request,
    standard_request,
)
from tests.integration.kafka_helpers import collect, eventually

# One run's canary: random, so a hit can only come from this test's input.
TOKEN = uuid.uuid4().hex[:12]
EMAIL = f"kanari.{TOKEN}@example.com"
NAME = f"Kanari {TOKEN[::-1]} Tori"
NOTE = f"Called her mobile 090-{TOKEN[:4]}; she is {TOKEN[4:]}"
CANARIES = (TOKEN, TOKEN[::-1], EMAIL, NAME, NOTE)
TRAITS = {"email": EMAIL, "name": NAME, "title": "CTO", "company": {"size": 300, "country": "JP"}}


def leaks(where: str) -> list[str]:
    return [c for c in CANARIES if c in where]


class Canary:
    """What the test sent, and the answers it got back."""

    def __init__(self) -> None:
        self.answers: list[str] = []

    def answered(self, response: httpx.Response, *expected: int) -> httpx.Response:
        assert response.status_code in expected, (response.status_code, response.text)
        if response.status_code != 200:  # a 200 shows the caller its own record, note included
            self.answers.append(f"{response.request.url} {response.status_code} {response.text}")
        return response


async def post_everywhere(system: System, http: httpx.AsyncClient, lead: str, other: str) -> Canary:
    """The canary through every door, good requests and bad ones."""
    canary, url = Canary(), system.ingress.url
    page = {"url": f"https://shop.example/thanks?email={EMAIL}", "form": NAME}
    good = [
        signal(lead, "identify", traits=TRAITS),
        signal(lead, "page_view", properties=page),
        signal(lead, "demo_request"),
    ]
    canary.answered(await http.post(f"{url}/v1/signals", json={"signals": good}), 202)
    bad: list[dict[str, Any]] = [
        signal(lead, "page_view", traits=TRAITS, properties=page, occurred_at="yesterday"),
        signal(lead, "Page View", traits=TRAITS, properties=page),
        signal(lead, "identify", traits={**TRAITS, "company": {"size": "three hundred"}}),
        {**signal(lead, "identify", traits=TRAITS), "previous_id": 12, "source": "x" * 101},
    ]
    for wrong in bad:
        canary.answered(await http.post(f"{url}/v1/signals", json=wrong), 422)
    broken = json.dumps({"signals": [signal(lead, "identify", traits=TRAITS)]})[:-7]
    canary.answered(await http.post(f"{url}/v1/signals", content=broken, headers=JSON), 422)

    webhook = {**signal(lead, "identify", traits=TRAITS), "id": new_id("wh")}
    body, headers = standard_request(webhook)
    canary.answered(
        await http.post(f"{url}/v1/webhooks/standard", content=body, headers=headers), 202
    )
    forged = {**headers, "webhook-signature": "v1,bm90IHRoZSBzaWduYXR1cmU="}
    canary.answered(
        await http.post(f"{url}/v1/webhooks/standard", content=body, headers=forged), 401
    )
    body, headers = standard_request({**webhook, "occurred_at": "yesterday"})
    canary.answered(
        await http.post(f"{url}/v1/webhooks/standard", content=body, headers=headers), 202, 422
    )
    identify = {"type": "identify", "messageId": new_id("m"), "userId": lead, "traits": TRAITS}
    body, headers = segment_request(identify)
    canary.answered(
        await http.post(f"{url}/v1/webhooks/segment", content=body, headers=headers), 202
    )
    body, headers = segment_request({**identify, "type": "Identify!", "messageId": new_id("m")})
    canary.answered(
        await http.post(f"{url}/v1/webhooks/segment", content=body, headers=headers), 202, 400, 422
    )
    contact = {"hs_object_id": other, "email": EMAIL, "firstname": NAME, "jobtitle": "CTO"}
    body, headers = hubspot_request(contact, f"{url}/v1/webhooks/hubspot")
    canary.answered(
        await http.post(f"{url}/v1/webhooks/hubspot", content=body, headers=headers), 202
    )
    marketo = {"lead_id": other, "activity": "Visit Web Page", "activity_id": new_id("a"),
               "email": EMAIL, "first_name": NAME, "phone": f"+81-90-{TOKEN[:8]}"}  # fmt: skip
    for payload, expected in ((marketo, (202,)), ({**marketo, "lead_id": None}, (400, 422))):
        body, headers = marketo_request(payload)
        canary.answered(
            await http.post(f"{url}/v1/webhooks/marketo", content=body, headers=headers), *expected
        )
    return canary


JSON = {"content-type": "application/json"}


async def reject_with_a_note(
    system: System, http: httpx.AsyncClient, canary: Canary, lead: str
) -> None:
    assigned = of_type(
        await events_of(
            system, routing.TOPIC, routing.routing_event_adapter, lead,
            lambda es: of_type(es, routing.LeadAssigned),
        ),
        routing.LeadAssigned,
    )[0]  # fmt: skip
    handoff = f"{system.routing.url}/v1/handoffs/{assigned.data.handoff_id}"
    rep = assigned.data.rep_id
    unknown_code = {"rep_id": rep, "reason_code": "no_such_code", "note": NOTE}
    canary.answered(await http.post(f"{handoff}/reject", json=unknown_code), 400, 409, 422)
    too_long = {"rep_id": rep, "reason_code": "no_budget", "note": NOTE * 200}
    canary.answered(await http.post(f"{handoff}/reject", json=too_long), 422)
    wrong_rep = {"rep_id": "nobody", "reason_code": "no_budget", "note": NOTE}
    canary.answered(await http.post(f"{handoff}/reject", json=wrong_rep), 403, 404, 409, 422)
    note = {"rep_id": rep, "reason_code": "not_now", "note": NOTE}
    canary.answered(await http.post(f"{handoff}/reject", json=note), 200)


def _holds_every_key(keys: set[bytes], records: list[ConsumerRecord[bytes, bytes]]) -> bool:
    return {r.key for r in records} >= keys


async def poison_records(bootstrap: str) -> dict[str, set[bytes]]:
    """Records that reach each consumer and fail validation, each carrying the canary: they go to
    the dead-letter topics, whose values keep the original and whose headers must not echo it.
    Returns the keys expected on each dead-letter topic."""
    envelope = {"specversion": "1.0", "source": "/tests", "time": "2026-11-21T10:00:00Z"}
    poison: dict[str, list[dict[str, Any]]] = {
        signals.TOPIC: [
            {"type": "handoff.signal.identify",
             "data": {"occurred_at": "yesterday", "traits": TRAITS}},
            {"type": "handoff.signal.activity",
             "data": {"activity_type": "Page View", "traits": TRAITS,
                      "occurred_at": "2026-11-21T10:00:00Z", "properties": {"url": EMAIL}}},
        ],
        commands.TOPIC: [
            {"type": "handoff.command.reject",
             "data": {"handoff_id": "h-x", "rep_id": "r", "reason_code": "no_budget",
                      "note": NOTE * 200}},
        ],
        scoring.TOPIC: [  # routing reads it
            {"type": "handoff.lead.mql",
             "data": {"mql_id": "m-x", "cycle": 1, "score": "high", "traits": TRAITS}},
        ],
        routing.TOPIC: [  # sla-watch and scoring read it
            {"type": "handoff.lead.dispositioned",
             "data": {"handoff_id": "h-x", "rep_id": "r", "at": "yesterday",
                      "outcome": "recycle", "note": NOTE}},
        ],
    }  # fmt: skip
    expected: dict[str, set[bytes]] = {}
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for topic, events in poison.items():
            for event in events:
                key = new_id("poison")
                value = {**envelope, **event, "id": new_id("evt")}
                value["data"] = {"lead_id": key, **event["data"]}
                await producer.send_and_wait(topic, json.dumps(value).encode(), key=key.encode())
                expected.setdefault(dlq_topic(topic), set()).add(key.encode())
    finally:
        await producer.stop()
    return expected


async def canary_rows(engine: AsyncEngine) -> dict[str, int]:
    """Rows holding the canary, per table of every handoff schema (bytea columns in hex too)."""
    hexes = tuple(c.encode().hex() for c in CANARIES)
    found: dict[str, int] = {}
    async with engine.connect() as conn:
        tables = (
            await conn.execute(
                text(
                    "SELECT table_schema, table_name FROM information_schema.tables "
                    "WHERE table_type = 'BASE TABLE' AND table_schema NOT IN "
                    "('pg_catalog', 'information_schema', 'public')"
                )
            )
        ).all()
        for schema, table in tables:
            hits = (
                await conn.execute(
                    text(
                        f'SELECT count(*) FROM "{schema}"."{table}" AS t '
                        "WHERE EXISTS (SELECT 1 FROM unnest(CAST(:needles AS text[])) AS n "
                        "WHERE strpos(t::text, n) > 0)"
                    ),
                    {"needles": [*CANARIES, *hexes]},
                )
            ).scalar_one()
            if hits:
                found[f"{schema}.{table}"] = hits
    assert {schema for schema, _ in tables} >= {"scoring", "routing", "sla"}
    return found


async def erasures_counted(http: httpx.AsyncClient, system: System) -> float:
    """Scoring's handoff_leads_erased_total (other tests' erasures reach routing too)."""
    for line in (await http.get(f"{system.scoring.url}/metrics")).text.splitlines():
        if line.startswith('handoff_leads_erased_total{service="scoring"}'):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_the_canary_never_leaks_and_is_gone_after_erasure(
    system: System, http: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    lead, contact = new_id(), str(uuid.uuid4().int % 10**12)
    canary = await post_everywhere(system, http, lead, contact)
    await reject_with_a_note(system, http, canary, lead)
    assert system.stack.bootstrap
    poison = await poison_records(system.stack.bootstrap)
    dead: list[Any] = []
    for topic, keys in poison.items():
        dead += await collect(
            system.stack.bootstrap, topic, partial(_holds_every_key, keys),
            keys=keys, within=30,
        )  # fmt: skip
    every_key = set().union(*poison.values())
    assert {r.key for r in dead} == every_key, "each poison record reached a dead-letter topic"
    for record in dead:
        for name, value in record.headers or ():
            assert leaks(value.decode(errors="replace")) == [], (record.topic, name)

    for answer in canary.answers:
        assert leaks(answer) == [], answer
    # Every service running, notify and insight included.
    assert {"notify", "insight"} <= set(system.stack.services), set(system.stack.services)
    for service in system.stack.services.values():
        metrics = (await http.get(f"{service.url}/metrics")).text
        assert leaks(metrics) == [], service.spec.name

    before = await canary_rows(engine)
    assert {"scoring.leads", "routing.handoffs"} <= set(before), before
    assert before["scoring.leads"] == 3, "the lead, the HubSpot contact and the Marketo lead"

    others = (f"hubspot-{contact}", f"marketo-{contact}")
    counted = await erasures_counted(http, system)
    for erased in (lead, *others):
        response = await http.delete(f"{system.scoring.url}/v1/leads/{erased}")
        assert response.status_code == 202, response.text
        assert leaks(response.text) == []

    def routing_erased() -> set[str]:  # routing's part follows when it consumes the events
        lines = system.routing.log_path.read_text(errors="replace").splitlines()
        return {
            i
            for i in (lead, *others)
            if any("routing.lead.erased" in ln and i in ln for ln in lines)
        }

    def notify_erased() -> set[str]:  # notify reads the same events
        lines = system.stack.services["notify"].log_path.read_text(errors="replace").splitlines()
        return {
            i
            for i in (lead, *others)
            if any("notify.lead.erased" in ln and i in ln for ln in lines)
        }

    async def erased_everywhere() -> bool:
        done = routing_erased() == notify_erased() == {lead, *others}
        return done and await canary_rows(engine) == {}

    await eventually(erased_everywhere, within=30, interval=0.5)
    assert routing_erased() == {lead, *others}
    assert notify_erased() == {lead, *others}
    assert await canary_rows(engine) == {}
    assert await erasures_counted(http, system) == counted + 3

    logs = sorted(system.scoring.log_path.parent.glob("*.log"))
    logs.append(system.stack.data_dir / "postgres.log")
    assert len(logs) >= 4
    for log in logs:
        if log.exists():
            assert leaks(log.read_text(errors="replace")) == [], log.name
