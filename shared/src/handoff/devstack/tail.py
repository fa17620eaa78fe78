"""Print the handoff events as they happen, one readable line each (used by `handoff dev`)."""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer
from pydantic import TypeAdapter

from handoff.events import routing, scoring, sla
from handoff.events.envelope import UnknownEventType, parse_event

ADAPTERS: dict[str, TypeAdapter[Any]] = {
    scoring.TOPIC: scoring.scoring_event_adapter,
    routing.TOPIC: routing.routing_event_adapter,
    sla.TOPIC: sla.sla_event_adapter,
}

Listener = Callable[[Any], Awaitable[None]]


def describe(event: Any) -> str | None:
    """One line for a person watching the handoff; None for events not worth a line."""
    d = event.data
    lead = d.lead_id
    match event:
        case scoring.LeadMql():
            return f"MQL         {lead:<10} score {d.score:>3} ({d.trigger.kind}) {d.reason}"
        case scoring.LeadDisqualified():
            return f"DISQUALIFY  {lead:<10} {d.reason}"
        case routing.LeadAssigned():
            return f"ASSIGNED    {lead:<10} to {d.rep_id} (pool {d.pool}, rule {d.rule})"
        case routing.LeadUnassigned():
            return f"UNASSIGNED  {lead:<10} waits in pool {d.pool}: {d.reason}"
        case routing.LeadAccepted():
            return f"ACCEPTED    {lead:<10} by {d.rep_id}"
        case routing.LeadRejected():
            note = f" ({d.note})" if d.note else ""
            return f"REJECTED    {lead:<10} by {d.rep_id}: {d.reason_code}{note}"
        case routing.LeadReassigned():
            return f"REASSIGNED  {lead:<10} from {d.previous_rep_id}: {d.reason or '?'}"
        case routing.LeadRecycled():
            return f"RECYCLED    {lead:<10} back to marketing until {d.until:%Y-%m-%d}"
        case routing.LeadContacted():
            return f"CONTACTED   {lead:<10} by {d.rep_id} ({d.channel or '?'})"
        case routing.LeadDispositioned():
            return f"DISPOSITION {lead:<10} by {d.rep_id}: {d.outcome}"
        case sla.SlaBreached():
            return (
                f"SLA BREACH  {lead:<10} {d.stage} not done by {d.due_at:%H:%M:%S}"
                f" (rep {d.rep_id or '?'}, policy {d.policy})"
            )
        case sla.SlaMet():
            return f"SLA MET     {lead:<10} {d.stage} in {d.elapsed.wall_seconds:.1f}s"
        case sla.SlaWarning():
            return f"SLA WARNING {lead:<10} {d.stage} due {d.due_at:%H:%M:%S}"
        case sla.SlaEscalated():
            return f"ESCALATED   {lead:<10} level {d.level}: {d.action} -> {d.target or '?'}"
    return None


async def follow(bootstrap: str, listeners: Sequence[Listener], out: Any = sys.stdout) -> None:
    """Read the three output topics from their end, print each event and pass it to listeners."""
    consumer = AIOKafkaConsumer(
        *ADAPTERS,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="latest",
        client_id="handoff-dev-tail",
    )
    await consumer.start()
    try:
        async for record in consumer:
            try:
                event = parse_event(ADAPTERS[record.topic], record.value or b"")
            except (UnknownEventType, ValueError):
                continue
            line = describe(event)
            if line:
                print(f"{event.time:%H:%M:%S}  {line}", file=out, flush=True)
            for listener in listeners:
                await listener(event)
    finally:
        await consumer.stop()
