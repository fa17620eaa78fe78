"""Route batches of MQLs and apply reps' accepts and rejects, inside the caller's unit of work."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import structlog

from handoff.db import UnitOfWork
from handoff.events import routing as ev
from handoff.events.envelope import fact_id, utcnow
from handoff.events.scoring import LeadMql, ScoringEvent
from handoff.messaging import outbox
from handoff.messaging.consumer import Inbound
from handoff.messaging.producer import Message
from handoff_routing.adapters import repository
from handoff_routing.adapters.tables import SCHEMA
from handoff_routing.domain.decision import Decision, DecisionStep, decide
from handoff_routing.domain.handoff import Handoff, HandoffState, accept, reject
from handoff_routing.domain.reasons import ReasonCodes
from handoff_routing.domain.roster import Roster

log = structlog.get_logger("handoff.routing")


def handoff_id_for(mql_id: str) -> str:
    """One handoff per MQL, with an id anyone can recompute from the MQL."""
    return fact_id("handoff", mql_id)


def decision_steps(steps: tuple[DecisionStep, ...]) -> list[ev.DecisionStep]:
    return [
        ev.DecisionStep(
            rule=s.rule,
            matched=s.matched,
            pool=s.pool,
            candidates=[ev.Candidate(rep_id=c.rep_id, skipped=c.skipped) for c in s.candidates],
            note=s.note,
        )
        for s in steps
    ]


def new_handoff(mql: LeadMql, decision: Decision, at: datetime) -> Handoff:
    assigned = decision.rep_id is not None
    return Handoff(
        handoff_id=handoff_id_for(mql.data.mql_id),
        lead_id=mql.data.lead_id,
        mql_id=mql.data.mql_id,
        state=HandoffState.ASSIGNED if assigned else HandoffState.UNASSIGNED,
        rep_id=decision.rep_id,
        pool=decision.pool,
        rule=decision.rule,
        created_at=at,
        updated_at=at,
        assigned_at=at if assigned else None,
        decision=decision.steps,
    )


def assignment_event(h: Handoff, decision: Decision) -> ev.LeadAssigned | ev.LeadUnassigned:
    steps = decision_steps(h.decision)
    if h.rep_id is not None and h.pool is not None and h.assigned_at is not None:
        return ev.LeadAssigned(
            id=fact_id("assigned", h.handoff_id),
            subject=h.lead_id,
            time=h.assigned_at,
            data=ev.AssignedData(
                lead_id=h.lead_id,
                handoff_id=h.handoff_id,
                mql_id=h.mql_id,
                rep_id=h.rep_id,
                pool=h.pool,
                rule=h.rule,
                assigned_at=h.assigned_at,
                decision=steps,
            ),
        )
    return ev.LeadUnassigned(
        id=fact_id("unassigned", h.handoff_id),
        subject=h.lead_id,
        time=h.created_at,
        data=ev.UnassignedData(
            lead_id=h.lead_id,
            handoff_id=h.handoff_id,
            mql_id=h.mql_id,
            pool=h.pool,
            reason=decision.unassigned_reason or "no rep available",
            at=h.created_at,
            decision=steps,
        ),
    )


class MqlHandler:
    """The routing consumer's batch handler: every new MQL gets exactly one handoff."""

    def __init__(self, roster: Roster, clock: Callable[[], datetime] = utcnow) -> None:
        self.roster = roster
        self.clock = clock

    async def __call__(self, uow: UnitOfWork, items: list[Inbound[ScoringEvent]]) -> None:
        mqls: dict[str, Inbound[LeadMql]] = {}
        for item in items:
            event = item.event
            if isinstance(event, LeadMql) and event.data.mql_id not in mqls:
                mqls[event.data.mql_id] = Inbound(event, item.topic, item.partition, item.offset)
        if not mqls:
            return
        already = await repository.known_mql_ids(uow.conn, mqls)
        fresh = [mql for mql_id, mql in mqls.items() if mql_id not in already]
        if not fresh:
            return
        pointers = await repository.lock_pointers(uow.conn, self.roster.pools_in_use())
        now = self.clock()
        routed: list[tuple[Inbound[LeadMql], Handoff, Decision]] = []
        for mql in fresh:
            decision = decide(self.roster, pointers)
            routed.append((mql, new_handoff(mql.event, decision, now), decision))
        inserted = await repository.insert_new(uow.conn, [h for _, h, _ in routed])
        await repository.save_pointers(uow.conn, pointers)
        events = []
        for origin, h, decision in routed:
            if h.handoff_id not in inserted:
                continue  # another instance routed this MQL between our check and our insert
            events.append(assignment_event(h, decision))
            log.info(
                "routing.assigned" if h.rep_id is not None else "routing.unassigned",
                lead_id=h.lead_id,
                handoff_id=h.handoff_id,
                rep_id=h.rep_id,
                pool=h.pool,
                event_id=origin.event.id,
                topic=origin.topic,
                partition=origin.partition,
                offset=origin.offset,
            )
        await outbox.append(uow.conn, SCHEMA, [Message.of(ev.TOPIC, e) for e in events])


class HandoffNotFound(Exception):
    def __init__(self, handoff_id: str) -> None:
        super().__init__(f"no handoff {handoff_id!r}")
        self.handoff_id = handoff_id


async def _locked(uow: UnitOfWork, handoff_id: str) -> Handoff:
    handoff = await repository.get(uow.conn, handoff_id, for_update=True)
    if handoff is None:
        raise HandoffNotFound(handoff_id)
    return handoff


async def accept_handoff(uow: UnitOfWork, handoff_id: str, rep_id: str, at: datetime) -> Handoff:
    """The rep accepts: state and LeadAccepted in the caller's unit of work; repeats do nothing."""
    handoff = await _locked(uow, handoff_id)
    if accept(handoff, rep_id, at):
        await repository.update_state(uow.conn, handoff)
        event = ev.LeadAccepted(
            id=fact_id("accepted", handoff.handoff_id),
            subject=handoff.lead_id,
            time=at,
            data=ev.HandoffActionData(
                lead_id=handoff.lead_id, handoff_id=handoff.handoff_id, rep_id=rep_id, at=at
            ),
        )
        await outbox.append(uow.conn, SCHEMA, [Message.of(ev.TOPIC, event)])
        log.info(
            "routing.accepted",
            lead_id=handoff.lead_id,
            handoff_id=handoff.handoff_id,
            rep_id=rep_id,
        )
    return handoff


async def reject_handoff(
    uow: UnitOfWork,
    handoff_id: str,
    rep_id: str,
    reason_code: str,
    note: str | None,
    at: datetime,
    reasons: ReasonCodes,
) -> Handoff:
    """The rep rejects with a reason code: state and LeadRejected in the caller's unit of work."""
    handoff = await _locked(uow, handoff_id)
    if reject(handoff, rep_id, reason_code, note, at, reasons):
        await repository.update_state(uow.conn, handoff)
        event = ev.LeadRejected(
            id=fact_id("rejected", handoff.handoff_id),
            subject=handoff.lead_id,
            time=at,
            data=ev.RejectedData(
                lead_id=handoff.lead_id,
                handoff_id=handoff.handoff_id,
                rep_id=rep_id,
                at=at,
                reason_code=reason_code,
                note=note,
            ),
        )
        await outbox.append(uow.conn, SCHEMA, [Message.of(ev.TOPIC, event)])
        log.info(
            "routing.rejected",
            lead_id=handoff.lead_id,
            handoff_id=handoff.handoff_id,
            rep_id=rep_id,
            reason_code=reason_code,
        )
    return handoff
