"""Print the handoff events as they happen, one readable line each (used by `handoff dev`).

The three topics are read independently, so an ASSIGNED may be fetched before its MQL and an
SLA MET before the ACCEPTED that stopped its timer. Lines are therefore held for a moment
(HOLD_SECONDS) and printed in causal order: by event time, then by the pipeline's order of
topics (scoring, routing, sla), then by the order of events within one change (a rejection
before the reassignment it causes, before the new assignment).
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
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
# Upstream first: at equal times, a cause is published on an earlier topic than its effect.
TOPIC_RANK = {scoring.TOPIC: 0, routing.TOPIC: 1, sla.TOPIC: 2}
# Within one routing change, all stamped with the same time: the rep's action, its
# consequence, then the (new) assignment. Within sla: warning, breach, escalation.
TYPE_RANK: dict[type[Any], int] = {
    routing.LeadReassigned: 1,
    routing.LeadRecycled: 1,
    routing.LeadAssigned: 2,
    routing.LeadUnassigned: 2,
    sla.SlaBreached: 1,
    sla.SlaEscalated: 2,
}
HOLD_SECONDS = 1.5

Listener = Callable[[Any], Awaitable[None]]


def describe(event: Any, reason_labels: Mapping[str, str] | None = None) -> str | None:
    """One line for a person watching the handoff; None for events not worth a line.

    reason_labels maps a rejection's reason code to its label (routing's reason taxonomy).
    """
    lead = f"{event.data.lead_id:<10}"
    return (
        _scoring_line(event, lead)
        or _routing_line(event, lead, reason_labels or {})
        or _sla_line(event, lead)
    )


def _scoring_line(event: Any, lead: str) -> str | None:
    d = event.data
    match event:
        case scoring.LeadMql():
            return f"MQL         {lead} score {d.score:>3} ({d.trigger.kind}) {d.reason}"
        case scoring.LeadDisqualified():
            return f"DISQUALIFY  {lead} {d.reason}"
    return None


def _routing_line(event: Any, lead: str, reason_labels: Mapping[str, str]) -> str | None:
    d = event.data
    match event:
        case routing.LeadAssigned():
            return f"ASSIGNED    {lead} to {d.rep_id} (pool {d.pool}, rule {d.rule})"
        case routing.LeadUnassigned():
            return f"UNASSIGNED  {lead} waits in pool {d.pool}: {d.reason}"
        case routing.LeadAccepted():
            return f"ACCEPTED    {lead} by {d.rep_id}"
        case routing.LeadRejected():
            label = reason_labels.get(d.reason_code, d.reason_code)
            note = f" ({d.note})" if d.note else ""
            return f"REJECTED    {lead} by {d.rep_id}: {label}{note}"
        case routing.LeadReassigned():
            return f"REASSIGNED  {lead} from {d.previous_rep_id}: {d.reason or '?'}"
        case routing.LeadRecycled():
            return f"RECYCLED    {lead} back to marketing until {d.until:%Y-%m-%d}"
        case routing.LeadContacted():
            return f"CONTACTED   {lead} by {d.rep_id} ({d.channel or '?'})"
        case routing.LeadDispositioned():
            return f"DISPOSITION {lead} by {d.rep_id}: {d.outcome}"
    return None


def _sla_line(event: Any, lead: str) -> str | None:
    d = event.data
    match event:
        case sla.SlaBreached():
            return (
                f"SLA BREACH  {lead} {d.stage} not done by {d.due_at:%H:%M:%S}"
                f" (rep {d.rep_id or '?'}, policy {d.policy})"
            )
        case sla.SlaMet():
            return f"SLA MET     {lead} {d.stage} in {d.elapsed.wall_seconds:.1f}s"
        case sla.SlaWarning():
            return f"SLA WARNING {lead} {d.stage} due {d.due_at:%H:%M:%S}"
        case sla.SlaEscalated():
            return f"ESCALATED   {lead} level {d.level}: {d.action} -> {d.target or '?'}"
    return None


@dataclass(order=True)
class _Held:
    key: tuple[datetime, int, int, int]
    arrived: float = field(compare=False)
    event: Any = field(compare=False)


class CausalOrder:
    """Holds events briefly and releases them in causal order (see the module's docstring)."""

    def __init__(self, hold_seconds: float = HOLD_SECONDS) -> None:
        self.hold = hold_seconds
        self.held: list[_Held] = []
        self.seq = 0

    def add(self, topic: str, event: Any, now: float) -> None:
        self.seq += 1
        key = (event.time, TOPIC_RANK.get(topic, 9), TYPE_RANK.get(type(event), 0), self.seq)
        self.held.append(_Held(key, now, event))

    def release(self, now: float) -> list[Any]:
        """The events due: every one held for hold_seconds, and every one ordered before them."""
        due = [h for h in self.held if now - h.arrived >= self.hold]
        if not due:
            return []
        cutoff = max(h.key for h in due)
        out = sorted(h for h in self.held if h.key <= cutoff)
        self.held = [h for h in self.held if h.key > cutoff]
        return [h.event for h in out]

    def drain(self) -> list[Any]:
        out, self.held = sorted(self.held), []
        return [h.event for h in out]


async def follow(
    bootstrap: str,
    listeners: Sequence[Listener],
    out: Any = sys.stdout,
    reason_labels: Mapping[str, str] | None = None,
    hold_seconds: float = HOLD_SECONDS,
) -> None:
    """Read the output topics from their end, print each event in causal order and pass it to
    listeners (at once, unordered)."""
    consumer = AIOKafkaConsumer(
        *ADAPTERS,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="latest",
        client_id="handoff-dev-tail",
    )
    order = CausalOrder(hold_seconds)
    await consumer.start()
    try:
        while True:
            batches = await consumer.getmany(timeout_ms=200)
            now = time.monotonic()
            for tp, records in batches.items():
                for record in records:
                    try:
                        event = parse_event(ADAPTERS[tp.topic], record.value or b"")
                    except (UnknownEventType, ValueError):
                        continue
                    order.add(tp.topic, event, now)
                    for listener in listeners:
                        await listener(event)
            _print(order.release(time.monotonic()), out, reason_labels)
    finally:
        _print(order.drain(), out, reason_labels)
        await consumer.stop()


def _print(events: list[Any], out: Any, reason_labels: Mapping[str, str] | None) -> None:
    for event in events:
        line = describe(event, reason_labels)
        if line:
            print(f"{event.time:%H:%M:%S}  {line}", file=out, flush=True)


async def follow_forever(
    bootstrap: str,
    listeners: Sequence[Listener],
    out: Any = sys.stdout,
    reason_labels: Mapping[str, str] | None = None,
) -> None:
    """follow(), started again when the broker goes away and comes back."""
    while True:
        with contextlib.suppress(Exception):
            await follow(bootstrap, listeners, out, reason_labels)
        await asyncio.sleep(2.0)
