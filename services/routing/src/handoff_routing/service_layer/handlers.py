"""Routing's handlers: a consumer batch (MQLs, SLA escalations, CRM commands), a rep's action from
the API, and the queue sweep; each works inside the caller's unit of work, which commits."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import structlog

from handoff.db import UnitOfWork
from handoff.events import commands, sla
from handoff.events.scoring import LeadErased, LeadMql
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


def action_of(command: Any) -> RepAction:
    """A CRM command as the same action the API takes."""
    d = command.data
    if isinstance(command, commands.AcceptCommand):
        return RepAction(Action.ACCEPT, d.handoff_id, d.rep_id)
    if isinstance(command, commands.RejectCommand):
        return RepAction(
            Action.REJECT, d.handoff_id, d.rep_id, reason_code=d.reason_code, note=d.note
        )
    if isinstance(command, commands.ContactCommand):
        return RepAction(Action.CONTACT, d.handoff_id, d.rep_id, channel=d.channel)
    return RepAction(
        Action.DISPOSITION,
        d.handoff_id,
        d.rep_id,
        outcome=Outcome(d.outcome),
        note=d.note,
        recycle_after_days=d.recycle_after_days,
    )


COMMANDS = (
    commands.AcceptCommand,
    commands.RejectCommand,
    commands.ContactCommand,
    commands.DispositionCommand,
)


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

    async def __call__(self, uow: UnitOfWork, items: list[Inbound[Any]]) -> None:
        # An erasure splits the batch (rarely: erasures are rare), so that it blanks what
        # came before it and nothing the lead sent after it; one transaction all the same.
        cut = next((n + 1 for n, i in enumerate(items[:-1]) if type(i.event) is LeadErased), None)
        if cut is not None:
            await self(uow, items[:cut])
            await self(uow, items[cut:])
            return
        await rep_queue.remember(uow.conn, items)  # reasons and due times for reps' queues
        mqls: dict[str, LeadMql] = {}
        escalations: list[sla.SlaEscalated] = []
        actions: list[tuple[Inbound[Any], RepAction]] = []
        erasures: list[LeadErased] = []
        for item in items:
            event = item.event
            if isinstance(event, LeadMql):
                mqls.setdefault(event.data.mql_id, event)
            elif isinstance(event, sla.SlaEscalated) and event.data.action == "reassign":
                escalations.append(event)
            elif isinstance(event, COMMANDS):
                actions.append((item, action_of(event)))
            elif isinstance(event, LeadErased):
                erasures.append(event)
        if not (mqls or escalations or actions):
            await apply_erasures(uow, erasures)
            return
        batch = HandoffBatch(uow, self.routing, self.routing.clock())
        # Lock order: handoffs acted on, then pointers (in open_router), then the queue.
        await batch.load(
            [e.data.handoff_id for e in escalations] + [a.handoff_id for _, a in actions]
        )
        await batch.open_router()
        await batch.drain_queue()
        if mqls:
            known = await _known(uow, mqls)
            await batch.route_mqls([m.data for mql_id, m in mqls.items() if mql_id not in known])
        for escalation in escalations:
            await batch.escalate(escalation.data.handoff_id, escalation.data.level)
        for origin, action in actions:
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
        await batch.finish()
        await apply_erasures(uow, erasures)
        if batch.freed and self.on_freed is not None:
            self.on_freed()


async def _known(uow: UnitOfWork, mqls: dict[str, LeadMql]) -> set[str]:
    """The MQLs that already have a handoff: a replayed MQL is never routed twice. Every MQL's
    first handoff has an id derived from it, so this is a primary key lookup."""
    first = {handoff_id_for(mql_id): mql_id for mql_id in mqls}
    return {first[h] for h in await handoffs.existing_ids(uow.conn, first)}


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
