"""Through topics and the API: an ignored handoff warns, breaches and reminds its rep; a late
accept closes the breach."""

from __future__ import annotations

from typing import Any

import httpx

from handoff.events import routing, sla
from tests.e2e.conftest import ACCEPT_WITHIN_SECONDS, System
from tests.e2e.test_handoff_flow import events_of, of_type, signal
from tests.factories import new_id
from tests.integration.kafka_helpers import eventually


async def test_an_ignored_handoff_warns_breaches_and_reminds_its_rep_until_accepted(
    system: System, http: httpx.AsyncClient
) -> None:
    lead = new_id()
    await http.post(f"{system.ingress.url}/v1/signals", json=signal(lead, "demo_request"))
    events = await events_of(
        system,
        sla.TOPIC,
        sla.sla_event_adapter,
        lead,
        lambda es: of_type(es, sla.SlaEscalated),
        within=ACCEPT_WITHIN_SECONDS + 30,
    )
    kinds = [e.type.rsplit(".", 1)[1] for e in events]
    # The timer's start comes first; the warning is skipped only if sla-watch read the
    # assignment after the due time.
    assert kinds in (
        ["started", "warning", "breached", "escalated"],
        ["started", "breached", "escalated"],
    )
    started, *warned, breached, reminded = events
    assert isinstance(started, sla.SlaStarted)
    assert (started.data.timer_id, started.data.due_at) == (
        breached.data.timer_id,
        breached.data.due_at,
    )
    assert all(w.data.fired_at < breached.data.due_at for w in warned)
    assert (reminded.data.level, reminded.data.action) == (1, "remind")
    assert reminded.data.target == breached.data.rep_id

    timers = (await http.get(f"{system.sla.url}/v1/leads/{lead}/sla")).json()["timers"]
    assert [(t["state"], t["escalation_level"], t["next_at"]) for t in timers] == [
        ("breached", 1, None)
    ]
    url = f"{system.routing.url}/v1/handoffs/{breached.data.handoff_id}/accept"
    assert (await http.post(url, json={"rep_id": breached.data.rep_id})).status_code == 200

    async def closed() -> Any:
        timers = (await http.get(f"{system.sla.url}/v1/leads/{lead}/sla")).json()["timers"]
        return timers[0]["state"] == "cancelled"

    assert await eventually(closed, within=20)
    overdue = (await http.get(f"{system.sla.url}/v1/sla/overdue")).json()["breaches"]
    assert breached.data.timer_id not in {b["timer_id"] for b in overdue}
    accepted = await events_of(
        system,
        routing.TOPIC,
        routing.routing_event_adapter,
        lead,
        lambda es: of_type(es, routing.LeadAccepted),
    )
    assert of_type(accepted, routing.LeadAccepted)
