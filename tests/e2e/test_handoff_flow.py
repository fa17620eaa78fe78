"""The whole handoff through HTTP and topics, with the three services running as processes."""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from handoff.events import routing, scoring, signals, sla
from tests.e2e.conftest import ACCEPT_WITHIN_SECONDS, System
from tests.factories import new_id
from tests.integration.kafka_helpers import collect, eventually, read_to_end

NOW = "2026-11-21T10:00:00Z"


def signal(lead: str, kind: str, event_id: str | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "id": event_id or new_id("e"),
        "lead_id": lead,
        "type": kind,
        "occurred_at": NOW,
        **extra,
    }


async def events_of(
    system: System, topic: str, adapter: Any, lead: str, until: Any, within: float = 30
) -> list[Any]:
    assert system.stack.bootstrap
    records = await collect(
        system.stack.bootstrap,
        topic,
        lambda rs: until([adapter.validate_json(r.value) for r in rs]),
        keys={lead.encode()},
        within=within,
    )
    return [adapter.validate_json(r.value) for r in records]


def of_type(events: list[Any], cls: type) -> list[Any]:
    return [e for e in events if isinstance(e, cls)]


async def test_a_lead_goes_from_signals_to_mql_assignment_and_acceptance(
    system: System, http: httpx.AsyncClient
) -> None:
    lead = new_id()
    traits = {
        "title": "本部長",
        "company": {"name": "Sakura Systems", "size": 300, "country": "JP"},
    }
    resp = await http.post(
        f"{system.ingress.url}/v1/signals",
        json={
            "signals": [
                signal(lead, "identify", traits=traits),
                signal(lead, "pricing_page_view"),
                signal(lead, "demo_request"),
            ]
        },
    )
    assert resp.status_code == 202 and resp.json() == {"accepted": 3}

    mqls = of_type(
        await events_of(
            system,
            scoring.TOPIC,
            scoring.scoring_event_adapter,
            lead,
            lambda es: of_type(es, scoring.LeadMql),
        ),
        scoring.LeadMql,
    )
    assert len(mqls) == 1
    assert mqls[0].data.score == 75 and "本部長" in mqls[0].data.reason

    assigned = of_type(
        await events_of(
            system,
            routing.TOPIC,
            routing.routing_event_adapter,
            lead,
            lambda es: of_type(es, routing.LeadAssigned),
        ),
        routing.LeadAssigned,
    )
    assert assigned[0].data.mql_id == mqls[0].data.mql_id
    assert assigned[0].data.decision, "the assignment carries its decision trace"
    handoff_id, rep = assigned[0].data.handoff_id, assigned[0].data.rep_id

    resp = await http.post(
        f"{system.routing.url}/v1/handoffs/{handoff_id}/accept", json={"rep_id": rep}
    )
    assert resp.status_code == 200, resp.text
    accepted = of_type(
        await events_of(
            system,
            routing.TOPIC,
            routing.routing_event_adapter,
            lead,
            lambda es: of_type(es, routing.LeadAccepted),
        ),
        routing.LeadAccepted,
    )
    assert accepted[0].data.rep_id == rep

    met = of_type(
        await events_of(
            system, sla.TOPIC, sla.sla_event_adapter, lead, lambda es: of_type(es, sla.SlaMet)
        ),
        sla.SlaMet,
    )
    assert met and met[0].data.handoff_id == handoff_id

    score = await http.get(f"{system.scoring.url}/v1/leads/{lead}/score")
    assert score.json()["mql"]["state"] == "mql"
    handoff = await http.get(f"{system.routing.url}/v1/leads/{lead}/handoff")
    assert handoff.json()["state"] == "accepted"


async def test_an_unaccepted_handoff_breaches_its_sla(
    system: System, http: httpx.AsyncClient
) -> None:
    lead = new_id()
    await http.post(f"{system.ingress.url}/v1/signals", json=signal(lead, "demo_request"))
    breached = of_type(
        await events_of(
            system,
            sla.TOPIC,
            sla.sla_event_adapter,
            lead,
            lambda es: of_type(es, sla.SlaBreached),
            within=ACCEPT_WITHIN_SECONDS + 30,
        ),
        sla.SlaBreached,
    )
    assert len(breached) == 1
    data = breached[0].data
    assert data.stage == "accept" and data.fired_at >= data.due_at
    # Oldest first across the whole (shared) database: ask for this rep's, as a manager would.
    overdue = await http.get(
        f"{system.sla.url}/v1/sla/overdue", params={"rep_id": data.rep_id, "limit": 1000}
    )
    assert data.timer_id in {t["timer_id"] for t in overdue.json()["breaches"]}


async def test_a_rejected_handoff_cannot_then_be_accepted(
    system: System, http: httpx.AsyncClient
) -> None:
    lead = new_id()
    await http.post(f"{system.ingress.url}/v1/signals", json=signal(lead, "demo_request"))
    assigned = of_type(
        await events_of(
            system,
            routing.TOPIC,
            routing.routing_event_adapter,
            lead,
            lambda es: of_type(es, routing.LeadAssigned),
        ),
        routing.LeadAssigned,
    )
    url = f"{system.routing.url}/v1/handoffs/{assigned[0].data.handoff_id}"
    rep = assigned[0].data.rep_id
    bad = await http.post(f"{url}/reject", json={"rep_id": rep, "reason_code": "too_expensive"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "reason_code"
    ok = await http.post(
        f"{url}/reject", json={"rep_id": rep, "reason_code": "no_budget", "note": "FY27"}
    )
    assert ok.status_code == 200
    late = await http.post(f"{url}/accept", json={"rep_id": rep})
    assert late.status_code == 409 and late.json()["state"] == "rejected"


async def test_a_duplicate_signal_id_counts_once(system: System, http: httpx.AsyncClient) -> None:
    lead = new_id()
    twice = signal(lead, "pricing_page_view", event_id=new_id("dup"))
    for _ in range(2):
        assert (await http.post(f"{system.ingress.url}/v1/signals", json=twice)).status_code == 202
    await http.post(f"{system.ingress.url}/v1/signals", json=signal(lead, "page_view"))

    async def score() -> int | None:
        resp = await http.get(f"{system.scoring.url}/v1/leads/{lead}/score")
        body = resp.json() if resp.status_code == 200 else {}
        count = sum(c["count"] for c in body.get("contributions", []))
        return body["score"] if count >= 2 else None

    assert await eventually(score) == 16  # 15 once, plus 1; 31 would mean counted twice


async def test_an_unparseable_value_on_the_signals_topic_does_not_stop_the_next_one(
    system: System, http: httpx.AsyncClient
) -> None:
    lead = new_id()
    producer = AIOKafkaProducer(bootstrap_servers=system.stack.bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(
            signals.TOPIC, b'{"specversion": "1.0", "oops"', key=lead.encode()
        )
    finally:
        await producer.stop()
    await http.post(f"{system.ingress.url}/v1/signals", json=signal(lead, "content_download"))

    async def scored() -> bool:
        return (await http.get(f"{system.scoring.url}/v1/leads/{lead}/score")).status_code == 200

    assert await eventually(scored)


async def test_a_killed_scoring_process_loses_no_mql_and_emits_none_twice(
    system: System, http: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    qualifying = [new_id("K") for _ in range(150)]  # 5 pricing views = 75 points: one MQL each
    # 3 pricing views = 45 points: never an MQL, unless a replay after the kill counted
    # events twice, which is what the inbox prevents.
    below = [new_id("K") for _ in range(100)]
    stream = [signal(lead, "pricing_page_view") for _ in range(5) for lead in qualifying]
    stream += [signal(lead, "pricing_page_view") for _ in range(3) for lead in below]
    batches = [stream[i : i + 25] for i in range(0, len(stream), 25)]
    acknowledged = 0
    a_third_in = asyncio.Event()

    async def post_all() -> None:
        nonlocal acknowledged
        for batch in batches:
            while True:  # as an MA tool would: retry until the signals are acknowledged
                with contextlib.suppress(httpx.HTTPError):
                    resp = await http.post(
                        f"{system.ingress.url}/v1/signals", json={"signals": batch}
                    )
                    if resp.status_code == 202:
                        acknowledged += 1
                        if acknowledged >= len(batches) // 3:
                            a_third_in.set()
                        break
                await asyncio.sleep(0.2)

    poster = asyncio.create_task(post_all())
    await a_third_in.wait()
    system.scoring.kill()  # SIGKILL mid-stream: no shutdown, no flush
    await asyncio.sleep(0.5)
    system.scoring.start()
    await asyncio.to_thread(system.scoring.wait_ready)
    await asyncio.wait_for(poster, 120)

    assert system.stack.bootstrap
    keys = {lead.encode() for lead in qualifying + below}
    await collect(
        system.stack.bootstrap,
        scoring.TOPIC,
        lambda rs: len({r.key for r in rs}) >= len(qualifying),
        keys=keys,
        within=90,
    )
    # Proof that nothing more is coming, without waiting for it: a marker lead on every
    # partition of the signals topic, posted last. Scoring reads a partition in order, so once
    # each marker has its MQL, every signal before it has been applied; with the outbox then
    # empty, all that scoring made of them is on the topic, and read to its end below.
    markers = await one_lead_per_partition(system.stack.bootstrap, signals.TOPIC)
    marker_signals = [signal(lead, "pricing_page_view") for _ in range(5) for lead in markers]
    resp = await http.post(f"{system.ingress.url}/v1/signals", json={"signals": marker_signals})
    assert resp.status_code == 202
    marker_keys = {lead.encode() for lead in markers}
    await collect(
        system.stack.bootstrap,
        scoring.TOPIC,
        lambda rs: {r.key for r in rs} >= marker_keys,
        keys=marker_keys,
        within=60,
    )
    assert await eventually(lambda: _outbox_empty(engine, "scoring"))
    records = await read_to_end(system.stack.bootstrap, scoring.TOPIC, keys=keys)
    mql_ids: dict[str, set[str]] = defaultdict(set)
    for record in records:
        event = scoring.scoring_event_adapter.validate_json(record.value)
        if isinstance(event, scoring.LeadMql):
            mql_ids[event.data.lead_id].add(event.data.mql_id)
    assert set(mql_ids) == set(qualifying), (
        "every qualifying lead has its MQL and no other lead does"
    )
    assert all(len(ids) == 1 for ids in mql_ids.values()), "no lead got a second MQL"


async def one_lead_per_partition(bootstrap: str, topic: str) -> list[str]:
    """A new lead id for each partition of `topic`: the producers key records by lead id and
    partition them with aiokafka's default partitioner."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        await consumer.topics()
        partitions = sorted(consumer.partitions_for_topic(topic) or ())
    finally:
        await consumer.stop()
    assert partitions, f"no partitions of {topic}"
    leads: dict[int, str] = {}
    while len(leads) < len(partitions):
        lead = new_id("marker")
        leads.setdefault(DefaultPartitioner()(lead.encode(), partitions, partitions), lead)
    return list(leads.values())


async def _outbox_empty(engine: AsyncEngine, schema: str) -> bool:
    async with engine.connect() as conn:
        unsent = await conn.scalar(
            text(f"SELECT count(*) FROM {schema}.outbox WHERE published_at IS NULL")
        )
    return bool(unsent == 0)
