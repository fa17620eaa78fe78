"""From each provider's webhook format, through the ingress process, to a scored signal: the
scoring process declares the MQL."""

from __future__ import annotations

import time

import httpx

from handoff.events import scoring
from tests.e2e.conftest import System
from tests.factories import new_id
from tests.ingress_senders import (
    hubspot_request,
    marketo_request,
    segment_request,
    standard_request,
)
from tests.integration.kafka_helpers import collect


async def test_every_provider_format_ends_in_a_scored_mql(system: System) -> None:
    url = system.ingress.url
    contact, user, mkto = str(time.time_ns()), new_id("u"), new_id("")[1:]
    lead = new_id()
    sends = {
        lead: ("standard", standard_request(
            {"id": new_id("e"), "lead_id": lead, "type": "demo_request", "occurred_at": "2026-11-21T10:00:00Z"}
        )),
        f"hubspot-{contact}": ("hubspot", hubspot_request(
            {"hs_object_id": contact, "jobtitle": "CTO", "handoff_activity": "demo_request"},
            f"{url}/v1/webhooks/hubspot",
        )),
        user: ("segment", segment_request(
            {"type": "track", "messageId": new_id("m"), "userId": user, "event": "Demo Requested"}
        )),
        f"marketo-{mkto}": ("marketo", marketo_request(
            {"lead_id": mkto, "activity": "Request Demo", "activity_id": new_id("a")}
        )),
    }  # fmt: skip
    async with httpx.AsyncClient(timeout=15) as client:
        for source, (body, headers) in sends.values():
            resp = await client.post(f"{url}/v1/webhooks/{source}", content=body, headers=headers)
            assert resp.status_code == 202, (source, resp.text)

    assert system.stack.bootstrap
    records = await collect(
        system.stack.bootstrap,
        scoring.TOPIC,
        lambda rs: (
            {r.key for r in rs if b'"handoff.lead.mql"' in (r.value or b"")}
            >= {k.encode() for k in sends}
        ),
        keys={k.encode() for k in sends},
        within=30,
    )
    mqls = [scoring.scoring_event_adapter.validate_json(r.value) for r in records]
    qualified = {m.data.lead_id for m in mqls if isinstance(m, scoring.LeadMql)}
    assert qualified == set(sends)
