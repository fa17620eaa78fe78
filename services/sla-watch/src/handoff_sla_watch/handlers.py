"""Apply routing events to timers per batch and breach due timers; outbox what happened."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog

from handoff.db import UnitOfWork
from handoff.events import routing as rev
from handoff.events import sla as ev
from handoff.events.envelope import fact_id
from handoff.messaging import outbox
from handoff.messaging.consumer import Inbound
from handoff.messaging.producer import Message
from handoff_sla_watch.adapters import repository
from handoff_sla_watch.adapters.tables import SCHEMA
from handoff_sla_watch.domain.model import (
    Met,
    Policy,
    Start,
    Stop,
    Timer,
    TimerState,
    late_by_seconds,
    start_timer,
    stop_timer,
    tombstone,
)
from handoff_sla_watch.metrics import MET

log = structlog.get_logger("handoff.sla")


def timer_id(handoff_id: str, stage: str) -> str:
    """The same handoff and stage always name the same timer, so a replayed start finds it."""
    return fact_id("timer", handoff_id, stage)


def _moment(event: rev.RoutingEvent) -> tuple[str | None, str | None, datetime]:
    """The rep, pool and time a routing event reports, whatever its type."""
    data = event.data
    if isinstance(data, rev.AssignedData):
        return data.rep_id, data.pool, data.assigned_at
    if isinstance(data, rev.UnassignedData):
        return None, data.pool, data.at
    return data.rep_id, None, data.at


def met_event(met: Met) -> ev.SlaMet:
    t = met.timer
    assert t.due_at is not None
    return ev.SlaMet(
        id=fact_id("met", t.timer_id),
        subject=t.lead_id,
        time=met.met_at,
        data=ev.MetData(
            **_timer_fields(t),
            elapsed=ev.Elapsed(
                wall_seconds=met.wall_seconds, business_seconds=met.business_seconds
            ),
            met_at=met.met_at,
        ),
    )


def _timer_fields(t: Timer) -> dict[str, Any]:
    """What every handoff.sla.* event says about its timer."""
    return {
        "lead_id": t.lead_id,
        "handoff_id": t.handoff_id,
        "timer_id": t.timer_id,
        "policy": t.policy,
        "stage": t.stage,
        "due_at": t.due_at,
        "rep_id": t.rep_id,
    }


def breached_event(t: Timer) -> ev.SlaBreached:
    assert t.due_at is not None and t.fired_at is not None
    return ev.SlaBreached(
        id=fact_id("breached", t.timer_id),
        subject=t.lead_id,
        time=t.fired_at,
        data=ev.FiredData(
            **_timer_fields(t),
            fired_at=t.fired_at,
            late_by_seconds=late_by_seconds(t.due_at, t.fired_at),
        ),
    )


@dataclass
class _BatchTimers:
    """The timers one batch touches and what happened to them, in event order."""

    timers: dict[str, Timer]
    new: dict[str, Timer] = field(default_factory=dict)
    stopped: dict[str, Timer] = field(default_factory=dict)
    mets: list[Met] = field(default_factory=list)

    def start(self, policy: Policy, start: Start, tid: str) -> None:
        armed = start_timer(self.timers.get(tid), policy, start, tid)
        if armed is not None:
            self.timers[tid] = self.new[tid] = armed

    def stop(self, policy: Policy, stop: Stop, tid: str) -> bool:
        """Stop the timer; True when there was none and a tombstone took its place."""
        existing = self.timers.get(tid)
        if existing is None:
            self.timers[tid] = self.new[tid] = tombstone(policy, stop, tid)
            return True
        met = stop_timer(existing, stop)
        if tid not in self.new:
            self.stopped[tid] = existing
        if met is not None:
            self.mets.append(met)
        return False


class RoutingHandler:
    """The sla-watch consumer's batch handler: arm, stop or tombstone timers in event order."""

    def __init__(
        self, policies: Sequence[Policy], wake: Callable[[datetime], None] | None = None
    ) -> None:
        self.policies = tuple(policies)
        self.wake = wake

    def _concerned(self, event_type: str) -> list[Policy]:
        return [p for p in self.policies if p.starts(event_type) or p.stops(event_type)]

    async def __call__(self, uow: UnitOfWork, items: list[Inbound[rev.RoutingEvent]]) -> None:
        wanted = {
            timer_id(item.event.data.handoff_id, p.stage)
            for item in items
            for p in self._concerned(item.event.type)
        }
        if not wanted:
            return
        batch = _BatchTimers(await repository.load(uow.conn, wanted))
        for item in items:
            self._apply(batch, item)
        inserted = await repository.insert(uow.conn, batch.new.values())
        await repository.save_stops(uow.conn, batch.stopped.values())
        # A timer armed and met in this batch whose row already existed was not ours to meet.
        mets = [
            m
            for m in batch.mets
            if m.timer.timer_id not in batch.new or m.timer.timer_id in inserted
        ]
        await outbox.append(uow.conn, SCHEMA, [Message.of(ev.TOPIC, met_event(m)) for m in mets])
        for m in mets:
            # Counted before the commit: a batch retried after a database error counts twice.
            MET.labels(m.timer.policy, m.timer.stage).inc()
            log.info(
                "sla.met",
                lead_id=m.timer.lead_id,
                handoff_id=m.timer.handoff_id,
                timer_id=m.timer.timer_id,
                wall_seconds=m.wall_seconds,
            )
        self._ring_for([batch.new[tid] for tid in inserted])

    def _apply(self, batch: _BatchTimers, item: Inbound[rev.RoutingEvent]) -> None:
        event, data = item.event, item.event.data
        rep_id, pool, at = _moment(event)
        for policy in self._concerned(event.type):
            tid = timer_id(data.handoff_id, policy.stage)
            if policy.starts(event.type):
                batch.start(policy, Start(data.lead_id, data.handoff_id, rep_id, pool, at), tid)
            elif batch.stop(policy, Stop(data.lead_id, data.handoff_id, rep_id, at), tid):
                log.info(
                    "sla.timer.tombstone",
                    lead_id=data.lead_id,
                    handoff_id=data.handoff_id,
                    timer_id=tid,
                    event_id=event.id,
                    event_type=event.type,
                    topic=item.topic,
                    partition=item.partition,
                    offset=item.offset,
                )

    def _ring_for(self, armed: list[Timer]) -> None:
        due = [t.due_at for t in armed if t.state is TimerState.PENDING and t.due_at is not None]
        if due and self.wake is not None:
            self.wake(min(due))


async def claim_breaches(uow: UnitOfWork, *, now: datetime | None, limit: int) -> list[Timer]:
    """Breach up to `limit` due timers and outbox their events, in the caller's transaction."""
    breached = await repository.claim_due(uow.conn, now, limit)
    await outbox.append(
        uow.conn, SCHEMA, [Message.of(ev.TOPIC, breached_event(t)) for t in breached]
    )
    return breached
