"""Routing's handlers: a consumer batch (MQLs, SLA escalations, CRM commands), a rep's action from
the API, and the queue sweep; each works inside the caller's unit of work, which commits."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import structlog

from handoff.db import UnitOfWork
from handoff.events import commands, scoring, sla
from handoff.events.scoring import LeadErased, LeadMql, MqlData
from handoff.messaging.consumer import Inbound
from handoff_routing.adapters import handoffs, rep_queue
from handoff_routing.domain.handoff import (
    Action,
    Handoff,
    HandoffConflict,
    HandoffNotFound,
    Outcome,
    RepAction,
    UnknownReasonCode,
    UnknownRep,
)
from handoff_routing.service_layer.erasure import apply_erasures
from handoff_routing.service_layer.handoff_batch import HandoffBatch, Routing, handoff_id_for

log = structlog.get_logger("handoff.routing")

# A rep's action from a CRM (handoff.routing.commands.v1).
Command = (
    commands.AcceptCommand
    | commands.RejectCommand
    | commands.ContactCommand
    | commands.DispositionCommand
)
# Every event the routing consumer parses, from handoff.scoring.v1, handoff.sla.v1 and
# handoff.routing.commands.v1.
ConsumedEvent = (
    scoring.LeadMql
    | scoring.LeadDisqualified
    | scoring.LeadScoreChanged
    | scoring.LeadErased
    | sla.SlaStarted
    | sla.SlaWarning
    | sla.SlaBreached
    | sla.SlaEscalated
    | sla.SlaMet
    | Command
)


def action_of(command: Command) -> RepAction:
    """A CRM command as the same action the API takes."""
    d = command.data
    if isinstance(command, commands.AcceptCommand):
        return RepAction(Action.ACCEPT, d.handoff_id, d.rep_id)
    if isinstance(command, commands.RejectCommand):
        return RepAction(
            Action.REJECT,
            d.handoff_id,
            d.rep_id,
            reason_code=command.data.reason_code,
            note=command.data.note,
        )
    if isinstance(command, commands.ContactCommand):
        return RepAction(Action.CONTACT, d.handoff_id, d.rep_id, channel=command.data.channel)
    return RepAction(
        Action.DISPOSITION,
        d.handoff_id,
        d.rep_id,
        outcome=Outcome(command.data.outcome),
        note=command.data.note,
        recycle_after_days=command.data.recycle_after_days,
    )


@dataclass
class SortedBatch:
    """A consumer batch by what routing does with each event; the rest only feeds reps' queues."""

    mqls: dict[str, LeadMql] = field(default_factory=dict)  # by MQL id: a repeat is one MQL
    escalations: list[sla.SlaEscalated] = field(default_factory=list)  # action reassign
    actions: list[tuple[Inbound[ConsumedEvent], RepAction]] = field(default_factory=list)
    erasures: list[LeadErased] = field(default_factory=list)

    @classmethod
    def of(cls, items: list[Inbound[ConsumedEvent]]) -> SortedBatch:
        out = cls()
        for item in items:
            event = item.event
            if isinstance(event, LeadMql):
                out.mqls.setdefault(event.data.mql_id, event)
            elif isinstance(event, sla.SlaEscalated) and event.data.action == "reassign":
                out.escalations.append(event)
            elif isinstance(event, Command):
                out.actions.append((item, action_of(event)))
            elif isinstance(event, LeadErased):
                out.erasures.append(event)
        return out

    def routes_anything(self) -> bool:
        return bool(self.mqls or self.escalations or self.actions)


class RoutingHandler:
    """The routing consumer's batch handler.

    handoff.scoring.v1: every new MQL gets exactly one first handoff.
    handoff.sla.v1: `escalated` with action reassign takes the lead from its rep.
    handoff.routing.commands.v1: reps' actions from a CRM, applied as the API would.
    handoff.lead.erased (on handoff.scoring.v1): the lead's personal data is blanked after what
    came before it in the batch; what came after it is applied after the erasure.
    Before any of it, leads waiting in a pool's queue go to reps who became available.
    """

    def __init__(self, routing: Routing, on_freed: Callable[[], None] | None = None) -> None:
        self.routing = routing
        self.on_freed = on_freed

    async def __call__(self, uow: UnitOfWork, items: list[Inbound[ConsumedEvent]]) -> None:
        # An erasure splits the batch (rarely: erasures are rare), so that it blanks what
        # came before it and nothing the lead sent after it; one transaction all the same.
        cut = next((n + 1 for n, i in enumerate(items[:-1]) if type(i.event) is LeadErased), None)
        if cut is not None:
            await self(uow, items[:cut])
            await self(uow, items[cut:])
            return
        await rep_queue.remember(uow.conn, [i.event for i in items])  # for reps' queues
        todo = SortedBatch.of(items)
        if not todo.routes_anything():
            await apply_erasures(uow, todo.erasures)
            return
        batch = HandoffBatch(uow, self.routing, self.routing.clock())
        # Lock order: handoffs acted on, then pointers (in open_router), then the queue.
        await batch.load(
            [e.data.handoff_id for e in todo.escalations] + [a.handoff_id for _, a in todo.actions]
        )
        await batch.open_router()
        await batch.drain_queue()
        if todo.mqls:
            await batch.route_mqls(await _new(uow, todo.mqls))
        for escalation in todo.escalations:
            await batch.escalate(escalation.data.handoff_id, escalation.data.level)
        for origin, action in todo.actions:
            await _act_on_command(batch, origin, action)
        await batch.finish()
        await apply_erasures(uow, todo.erasures)
        if batch.freed and self.on_freed is not None:
            self.on_freed()


async def _act_on_command(
    batch: HandoffBatch, origin: Inbound[ConsumedEvent], action: RepAction
) -> None:
    """A CRM command that cannot apply is logged and dropped: retrying would not change it."""
    try:
        await batch.act(action)
    except (UnknownRep, HandoffNotFound, HandoffConflict, UnknownReasonCode) as exc:
        log.warning(
            "routing.command.refused",
            handoff_id=action.handoff_id,
            rep_id=action.rep_id,
            action=str(action.action),
            error=str(exc),
            event_id=origin.event.id,
            topic=origin.topic,
            partition=origin.partition,
            offset=origin.offset,
        )


async def _new(uow: UnitOfWork, mqls: dict[str, LeadMql]) -> list[tuple[str, MqlData]]:
    """The MQLs without a handoff yet, each with its first handoff's id: a replayed MQL is never
    routed twice. That id is derived from the MQL, so this is a primary key lookup (and the id,
    computed once here, is the one the new handoff takes)."""
    first = {handoff_id_for(mql_id): m.data for mql_id, m in mqls.items()}
    known = await handoffs.existing_ids(uow.conn, first)
    return [(hid, mql) for hid, mql in first.items() if hid not in known]


async def act(uow: UnitOfWork, routing: Routing, action: RepAction) -> tuple[Handoff, bool]:
    """A rep's action from the API; returns the handoff and whether the queue may move now."""
    batch = HandoffBatch(uow, routing, routing.clock())
    await batch.load([action.handoff_id])
    handoff = await batch.act(action)
    await batch.finish()
    return handoff, batch.freed


async def sweep_queue(uow: UnitOfWork, routing: Routing) -> int:
    """Assign what waits in pools' queues to reps now available; the number assigned."""
    if not await handoffs.has_queued(uow.conn):
        return 0
    batch = HandoffBatch(uow, routing, routing.clock())
    await batch.open_router()
    assigned = await batch.drain_queue()
    await batch.finish()
    return assigned
