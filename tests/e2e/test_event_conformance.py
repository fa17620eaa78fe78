"""What the running services really publish, fast paths included: every record about this
test's leads, on every topic, reads back through the CloudEvents SDK (Kafka structured binding)
and through its topic's model, with the attributes the contract names."""

from __future__ import annotations

import json
from typing import Any

import httpx
from cloudevents.core.bindings.kafka import KafkaMessage, from_kafka_event

from handoff.events import ADAPTERS, routing, sla
from handoff.events.envelope import parse_event
from tests.e2e.conftest import ACCEPT_WITHIN_SECONDS, System
from tests.e2e.test_handoff_flow import events_of, of_type, signal
from tests.factories import new_id
from tests.integration.kafka_helpers import read_to_end

# The types this test's journeys make the services emit; each must be seen and conform.
EXPECTED = {
    "handoff.signal.identify",
    "handoff.signal.activity",
    "handoff.lead.mql",
    "handoff.lead.assigned",
    "handoff.lead.accepted",
    "handoff.lead.contacted",
    "handoff.lead.rejected",
    "handoff.sla.started",
    "handoff.sla.met",
    "handoff.sla.breached",
    "handoff.sla.escalated",
}


async def _assigned(system: System, lead: str) -> routing.LeadAssigned:
    found = of_type(
        await events_of(
            system,
            routing.TOPIC,
            routing.routing_event_adapter,
            lead,
            lambda es: of_type(es, routing.LeadAssigned),
        ),
        routing.LeadAssigned,
    )
    event: routing.LeadAssigned = found[0]
    return event


async def test_every_event_the_services_publish_conforms_to_cloudevents_and_its_model(
    system: System, http: httpx.AsyncClient
) -> None:
    accepted_lead, rejected_lead, ignored_lead = new_id(), new_id(), new_id()
    traits = {"title": "VP Sales", "company": {"name": "Acme", "size": 300, "country": "US"}}
    resp = await http.post(
        f"{system.ingress.url}/v1/signals",
        json={
            "signals": [
                signal(accepted_lead, "identify", traits=traits),
                signal(accepted_lead, "demo_request"),
                signal(rejected_lead, "demo_request"),
                signal(ignored_lead, "demo_request"),
            ]
        },
    )
    assert resp.status_code == 202, resp.text

    first = await _assigned(system, accepted_lead)
    for action, body in (
        ("accept", {"rep_id": first.data.rep_id}),
        ("contact", {"rep_id": first.data.rep_id, "channel": "phone"}),
    ):
        resp = await http.post(
            f"{system.routing.url}/v1/handoffs/{first.data.handoff_id}/{action}", json=body
        )
        assert resp.status_code == 200, resp.text
    second = await _assigned(system, rejected_lead)
    resp = await http.post(
        f"{system.routing.url}/v1/handoffs/{second.data.handoff_id}/reject",
        json={"rep_id": second.data.rep_id, "reason_code": "no_budget"},
    )
    assert resp.status_code == 200, resp.text
    await events_of(  # the ignored lead's SLA breaches and escalates
        system,
        sla.TOPIC,
        sla.sla_event_adapter,
        ignored_lead,
        lambda es: of_type(es, sla.SlaEscalated),
        within=ACCEPT_WITHIN_SECONDS + 30,
    )
    await events_of(
        system, sla.TOPIC, sla.sla_event_adapter, accepted_lead, lambda es: of_type(es, sla.SlaMet)
    )
    await events_of(
        system,
        routing.TOPIC,
        routing.routing_event_adapter,
        rejected_lead,
        lambda es: of_type(es, routing.LeadRejected),
    )

    assert system.stack.bootstrap
    keys = {lead.encode() for lead in (accepted_lead, rejected_lead, ignored_lead)}
    seen: set[str] = set()
    for topic, adapter in ADAPTERS.items():
        for record in await read_to_end(system.stack.bootstrap, topic, keys=keys):
            raw: dict[str, Any] = json.loads(record.value)
            headers = {k: v for k, v in record.headers}
            sdk = from_kafka_event(KafkaMessage(headers, record.key, record.value))
            assert sdk.get_specversion() == "1.0", raw
            assert sdk.get_subject() == record.key.decode(), "the key is the subject, the lead"
            assert raw["time"].endswith("Z"), f"{raw['type']}: time in UTC with a Z"
            model = parse_event(adapter, record.value)
            assert (model.type, model.id, model.source) == (
                sdk.get_type(),
                sdk.get_id(),
                sdk.get_source(),
            )
            assert sdk.get_data() == raw["data"]
            seen.add(model.type)
    assert seen >= EXPECTED, f"not seen: {sorted(EXPECTED - seen)}"
