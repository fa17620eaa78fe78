"""Apply routing events to timers per batch, and fire due timers; outbox what happened."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg
import structlog

from handoff.db import UnitOfWork
from handoff.events import routing as rev
from handoff.events import sla as ev
from handoff.events.envelope import fact_id
from handoff.messaging import outbox
from handoff.messaging.consumer import Inbound
from handoff.messaging.producer import Message
from handoff_sla_watch.adapters import firing_store, repository
from handoff_sla_watch.adapters.tables import SCHEMA
from handoff_sla_watch.domain.calendar import WALL_CLOCK, Clock
from handoff_sla_watch.domain.firing import Fired, fire
from handoff_sla_watch.domain.model import (
    Assignment,
    Met,
    Policy,
    Start,
    Stop,
    Timer,
    choose_policy,
    first_check,
    start_timer,
    stop_timer,
    tombstone,
)
from handoff_sla_watch.metrics import BREACHES, ESCALATIONS, FIRE_LAG, MET, WARNINGS

log = structlog.get_logger("handoff.sla")


def timer_id(handoff_id: str, stage: str) -> str:
    """The same handoff and stage always name the same timer, so a replayed start finds it."""
    return fact_id("timer", handoff_id, stage)


def _arming(t: Timer) -> str:
    """Which arming of the timer an event belongs to: a re-armed stage starts a new one."""
    return t.started_at.isoformat() if t.started_at else ""


def _moment(event: rev.RoutingEvent) -> tuple[str | None, datetime, Assignment | None]:
    """The rep, the time and (for an assignment) the assignment a routing event reports."""
    data = event.data
    if isinstance(data, rev.AssignedData):
        return (
            data.rep_id,
            data.assigned_at,
            Assignment(data.pool, data.mql_trigger, data.fit_grade, data.team, data.manager_id),
        )
    if isinstance(data, rev.UnassignedData):
        return None, data.at, Assignment(pool=data.pool)
    return data.rep_id, data.at, None


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


def met_event(met: Met) -> ev.SlaMet:
    t = met.timer
    return ev.SlaMet(
        id=fact_id("met", t.timer_id, _arming(t)),
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


def started_event(t: Timer, policy: Policy | None) -> ev.SlaStarted:
    """The timer was armed: its due time (and warning point) known from now on."""
    assert t.started_at is not None and t.due_at is not None
    warn_at = (
        first_check(policy, t.started_at, t.due_at)
        if policy is not None and policy.warn_at is not None
        else None
    )
    return ev.SlaStarted(
        id=fact_id("started", t.timer_id, _arming(t)),
        subject=t.lead_id,
        time=t.started_at,
        data=ev.StartedData(**_timer_fields(t), started_at=t.started_at, warn_at=warn_at),
    )


def fired_event(t: Timer, step: Fired) -> ev.SlaWarning | ev.SlaBreached | ev.SlaEscalated:
    """The model of a fired step; the firer writes the same JSON faster (adapters.events)."""
    fields = {
        **_timer_fields(t),
        "fired_at": step.fired_at,
        "late_by_seconds": step.late_by_seconds,
    }
    if step.kind == "warning":
        return ev.SlaWarning(
            id=fact_id("warning", t.timer_id, _arming(t)),
            subject=t.lead_id,
            time=step.fired_at,
            data=ev.FiredData(**fields),
        )
    if step.kind == "breached":
        return ev.SlaBreached(
            id=fact_id("breached", t.timer_id, _arming(t)),
            subject=t.lead_id,
            time=step.fired_at,
            data=ev.FiredData(**fields),
        )
    assert step.action in ("remind", "escalate_to_manager", "reassign")
    return ev.SlaEscalated(
        id=fact_id("escalated", t.timer_id, _arming(t), str(step.level)),
        subject=t.lead_id,
        time=step.fired_at,
        data=ev.EscalatedData(**fields, level=step.level, action=step.action, target=step.target),
    )


@dataclass
class _BatchTimers:
    """The timers of the handoffs one batch touches and what happened to them, in event order."""

    timers: dict[str, Timer]
    loaded: frozenset[str]
    assignments: dict[str, Assignment] = field(default_factory=dict)
    new: dict[str, Timer] = field(default_factory=dict)
    changed: dict[str, Timer] = field(default_factory=dict)
    mets: list[Met] = field(default_factory=list)
    started: dict[str, Timer] = field(default_factory=dict)  # armed in this batch, by timer id

    @classmethod
    def of(cls, timers: dict[str, Timer]) -> _BatchTimers:
        batch = cls(timers, frozenset(timers))
        # A stage started later than the assignment (first contact) still chooses its policy
        # on the assignment: take it from the handoff's most recently armed timer.
        armed = [t for t in timers.values() if t.started_at is not None]
        for t in sorted(armed, key=lambda t: (t.started_at, t.timer_id)):
            batch.assignments[t.handoff_id] = t.assignment
        return batch

    def _keep(self, t: Timer) -> None:
        self.timers[t.timer_id] = t
        (self.changed if t.timer_id in self.loaded else self.new)[t.timer_id] = t

    def start(self, policy: Policy, start: Start, tid: str) -> Timer | None:
        armed = start_timer(self.timers.get(tid), policy, start, tid)
        if armed is not None:
            self._keep(armed)
            self.started[tid] = armed
        return armed

    def stop(self, policy: Policy, clock: Clock, stop: Stop, tid: str) -> bool:
        """Stop the timer; True when there was none and a tombstone took its place."""
        existing = self.timers.get(tid)
        if existing is None:
            self._keep(tombstone(policy, stop, tid))
            return True
        met = stop_timer(existing, stop, clock)
        self._keep(existing)
        if met is not None:
            self.mets.append(met)
        return False


class RoutingHandler:
    """The sla-watch consumer's batch handler: arm, stop or tombstone timers in event order."""

    def __init__(
        self, policies: Sequence[Policy], wake: Callable[[datetime], None] | None = None
    ) -> None:
        self.policies = tuple(policies)
        self.by_name = {p.name: p for p in self.policies}
        self.stages: dict[str, list[Policy]] = {}
        for p in self.policies:
            self.stages.setdefault(p.stage, []).append(p)
        self.wake = wake

    def _concerned(self, event_type: str) -> list[tuple[str, list[Policy]]]:
        # A stage's policies share their start and stop events (checked at load).
        return [
            (stage, group)
            for stage, group in self.stages.items()
            if group[0].starts(event_type) or group[0].stops(event_type)
        ]

    async def __call__(self, uow: UnitOfWork, items: list[Inbound[rev.RoutingEvent]]) -> None:
        handoffs = {
            item.event.data.handoff_id for item in items if self._concerned(item.event.type)
        }
        if not handoffs:
            return
        batch = _BatchTimers.of(await repository.load(uow.conn, handoffs))
        for item in items:
            self._apply(batch, item)
        inserted = await repository.insert(uow.conn, batch.new.values())
        await repository.save(uow.conn, batch.changed.values())
        # A timer armed and met in this batch whose row already existed was not ours to meet.
        mets = [
            m
            for m in batch.mets
            if m.timer.timer_id not in batch.new or m.timer.timer_id in inserted
        ]
        # Armed in this batch and stored by it (a new row someone else inserted first is theirs
        # to announce), so each arming is announced once, with the timer, in this transaction.
        started = [
            t
            for tid, t in batch.started.items()
            if (tid in batch.changed or tid in inserted) and batch.timers[tid] is t
        ]
        await outbox.append(
            uow.conn,
            SCHEMA,
            [Message.of(ev.TOPIC, started_event(t, self.by_name.get(t.policy))) for t in started]
            + [Message.of(ev.TOPIC, met_event(m)) for m in mets],
        )
        armed = [t for tid, t in batch.new.items() if tid in inserted] + list(
            batch.changed.values()
        )
        due = [t.next_at for t in armed if t.is_running and t.next_at is not None]
        # After the commit: the firer must see the new timer when it wakes, and a batch
        # retried after a database error must not count its met agreements twice.
        uow.after_commit(lambda: self._after_commit(mets, min(due) if due else None))

    def _after_commit(self, mets: list[Met], earliest: datetime | None) -> None:
        for m in mets:
            MET.labels(m.timer.policy, m.timer.stage).inc()
            log.info(
                "sla.met",
                lead_id=m.timer.lead_id,
                handoff_id=m.timer.handoff_id,
                timer_id=m.timer.timer_id,
                wall_seconds=m.wall_seconds,
                business_seconds=m.business_seconds,
            )
        if earliest is not None and self.wake is not None:
            self.wake(earliest)

    def _apply(self, batch: _BatchTimers, item: Inbound[rev.RoutingEvent]) -> None:
        event, data = item.event, item.event.data
        rep_id, at, assignment = _moment(event)
        if assignment is not None:
            batch.assignments[data.handoff_id] = assignment
        for stage, group in self._concerned(event.type):
            tid = timer_id(data.handoff_id, stage)
            if group[0].starts(event.type):
                start = Start(
                    data.lead_id,
                    data.handoff_id,
                    rep_id,
                    at,
                    batch.assignments.get(data.handoff_id, Assignment()),
                )
                policy = choose_policy(group, start)
                if policy is None:
                    continue  # no policy of this stage applies to this handoff
                batch.start(policy, start, tid)
                continue
            existing = batch.timers.get(tid)
            own = self.by_name.get(existing.policy) if existing is not None else None
            clock = own.clock if own is not None else WALL_CLOCK
            stop = Stop(data.lead_id, data.handoff_id, rep_id, at)
            if batch.stop(own or group[0], clock, stop, tid):
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


class Firing:
    """Fires due timers with their policies (by name; a removed policy still breaches)."""

    def __init__(self, policies: Sequence[Policy]) -> None:
        self.by_name = {p.name: p for p in policies}

    async def claim(
        self, conn: asyncpg.Connection, *, now: datetime | None, limit: int
    ) -> list[tuple[Timer, list[Fired]]]:
        """Fire up to `limit` due timers and outbox their events, in the caller's transaction."""
        timers, at = await firing_store.claim_due(conn, now, limit)
        if not timers:
            return []
        assert at is not None
        by_name = self.by_name
        done = [(t, fire(t, by_name.get(t.policy), at)) for t in timers]
        await firing_store.save_fired(conn, at, done)
        return done

    def observe(self, done: list[tuple[Timer, list[Fired]]]) -> None:
        """Metrics and logs of a committed claim."""
        for t, steps in done:
            for step in steps:
                FIRE_LAG.observe(step.late_by_seconds)
                if step.kind == "breached":
                    BREACHES.labels(t.policy, t.stage).inc()
                    log.warning(
                        "sla.breached",
                        lead_id=t.lead_id,
                        handoff_id=t.handoff_id,
                        timer_id=t.timer_id,
                        policy=t.policy,
                        stage=t.stage,
                        rep_id=t.rep_id,
                        late_by_seconds=round(step.late_by_seconds, 3),
                    )
                elif step.kind == "warning":
                    WARNINGS.labels(t.policy, t.stage).inc()
                else:
                    ESCALATIONS.labels(t.policy, t.stage, step.action or "").inc()
                    log.warning(
                        "sla.escalated",
                        lead_id=t.lead_id,
                        handoff_id=t.handoff_id,
                        timer_id=t.timer_id,
                        level=step.level,
                        action=step.action,
                        target=step.target,
                    )
