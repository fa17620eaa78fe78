"""Routing end to end: an MQL is assigned, rejected for the wrong territory, reassigned to
another rep who accepts it; a CRM command on the commands topic does what the API does."""

from __future__ import annotations

from typing import Any

import httpx

from handoff.events import commands, routing, sla
from handoff.messaging.producer import Message, Producer, make_producer
from handoff.settings import HandoffSettings
from tests.e2e.conftest import System
from tests.e2e.test_handoff_flow import events_of, of_type, signal
from tests.factories import new_id


async def routed(system: System, lead: str, until: Any) -> list[Any]:
    return await events_of(system, routing.TOPIC, routing.routing_event_adapter, lead, until)


async def mql_for(system: System, http: httpx.AsyncClient, lead: str) -> None:
    traits = {"email": f"{lead.lower()}@northwind.example.com", "company": {"country": "GB"}}
    resp = await http.post(
        f"{system.ingress.url}/v1/signals",
        json={"signals": [signal(lead, "identify", traits=traits), signal(lead, "demo_request")]},
    )
    assert resp.status_code == 202


async def test_a_lead_rejected_for_the_wrong_territory_is_reassigned_and_accepted(
    system: System, http: httpx.AsyncClient
) -> None:
    lead = new_id()
    await mql_for(system, http, lead)
    first = of_type(
        await routed(system, lead, lambda es: of_type(es, routing.LeadAssigned)),
        routing.LeadAssigned,
    )[0]
    assert first.data.pool == "inside-sales" and first.data.rule == "default_pool"
    assert first.data.team and first.data.manager_id == "hiroshi.yamamoto"

    url = f"{system.routing.url}/v1/handoffs/{first.data.handoff_id}"
    rejected = await http.post(
        f"{url}/reject", json={"rep_id": first.data.rep_id, "reason_code": "wrong_territory"}
    )
    assert rejected.status_code == 200, rejected.text
    assert rejected.json()["follow_up"] == "reassigned"

    events = await routed(system, lead, lambda es: len(of_type(es, routing.LeadAssigned)) >= 2)
    kinds = [type(e) for e in events]
    assert kinds == [
        routing.LeadAssigned,
        routing.LeadRejected,
        routing.LeadReassigned,
        routing.LeadAssigned,
    ]
    second = events[3]
    assert second.data.rep_id != first.data.rep_id
    assert events[2].data.new_handoff_id == second.data.handoff_id

    current = await http.get(f"{system.routing.url}/v1/leads/{lead}/handoff")
    assert current.json()["handoff_id"] == second.data.handoff_id
    trace = await http.get(f"{system.routing.url}/v1/handoffs/{second.data.handoff_id}/decision")
    why = trace.json()["decision"][0]
    assert why["rule"] == "reassign"
    assert why["note"] == (
        f"rejected: wrong_territory; left out: {first.data.rep_id} (already had this lead)"
    )

    accepted = await http.post(
        f"{system.routing.url}/v1/handoffs/{second.data.handoff_id}/accept",
        json={"rep_id": second.data.rep_id},
    )
    assert accepted.status_code == 200 and accepted.json()["state"] == "accepted"
    met = of_type(
        await events_of(
            system,
            sla.TOPIC,
            sla.sla_event_adapter,
            lead,
            lambda es: any(
                isinstance(e, sla.SlaMet) and e.data.handoff_id == second.data.handoff_id
                for e in es
            ),
        ),
        sla.SlaMet,
    )
    assert second.data.handoff_id in {m.data.handoff_id for m in met}


async def test_a_crm_command_on_the_topic_accepts_a_lead(
    system: System, http: httpx.AsyncClient
) -> None:
    lead = new_id()
    await mql_for(system, http, lead)
    assigned = of_type(
        await routed(system, lead, lambda es: of_type(es, routing.LeadAssigned)),
        routing.LeadAssigned,
    )[0]
    command = commands.AcceptCommand(
        id=new_id("sfdc"),
        source="/crm/salesforce",
        subject=lead,
        data=commands.RepActionData(
            lead_id=lead, handoff_id=assigned.data.handoff_id, rep_id=assigned.data.rep_id
        ),
    )
    assert system.stack.bootstrap
    kafka = make_producer(
        HandoffSettings(kafka_bootstrap_servers=system.stack.bootstrap), "test-crm"
    )
    await kafka.start()
    try:
        await Producer(kafka).send_all([Message.of(commands.TOPIC, command)])
    finally:
        await kafka.stop()
    accepted = of_type(
        await routed(system, lead, lambda es: of_type(es, routing.LeadAccepted)),
        routing.LeadAccepted,
    )
    assert accepted and accepted[0].data.rep_id == assigned.data.rep_id
