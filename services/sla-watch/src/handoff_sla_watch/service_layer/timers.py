"""The consumer's batch handler: routing events arm, stop or tombstone timers, in event order;
started and met agreements go to the outbox in the same transaction."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import structlog

from handoff.db import UnitOfWork
from handoff.events import routing as rev
from handoff.events.envelope import fact_id
from handoff.messaging import outbox
from handoff.messaging.consumer import Inbound
from handoff_sla_watch.adapters import events_out
from handoff_sla_watch.adapters import timers as repository
from handoff_sla_watch.adapters.metrics import MET
from handoff_sla_watch.adapters.tables import SCHEMA
from handoff_sla_watch.domain.calendar import WALL_CLOCK, Clock
from handoff_sla_watch.domain.model import (
    Assignment,
    Met,
    Policy,
    Start,
    Stop,
    Timer,
    choose_policy,
    first_step_at,
    start_timer,
    stop_timer,
    tombstone,
)

log = structlog.get_logger("handoff.sla")


def timer_id(handoff_id: str, stage: str) -> str:
    """The same handoff and stage always name the same timer, so a replayed start finds it."""
    return fact_id("timer", handoff_id, stage)


def _reported(event: rev.RoutingEvent) -> tuple[str | None, datetime, Assignment | None]:
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


@dataclass
class BatchTimers:
    """The timers of the handoffs one batch touches and what happened to them, in event order."""

    timers: dict[str, Timer]
    loaded: frozenset[str]
    assignments: dict[str, Assignment] = field(default_factory=dict)
    new: dict[str, Timer] = field(default_factory=dict)
    changed: dict[str, Timer] = field(default_factory=dict)
    mets: list[Met] = field(default_factory=list)
    started: dict[str, Timer] = field(default_factory=dict)  # armed in this batch, by timer id

    @classmethod
    def locked(cls, timers: dict[str, Timer]) -> BatchTimers:
        batch = cls(timers, frozenset(timers))
        # A stage started later than the assignment (first contact) still chooses its policy
        # on the assignment: take it from the handoff's most recently armed timer.
        armed = [t for t in timers.values() if t.started_at is not None]
        for t in sorted(armed, key=lambda t: (t.started_at, t.timer_id)):
            batch.assignments[t.handoff_id] = t.assignment
        return batch

    def _record(self, t: Timer) -> None:
        self.timers[t.timer_id] = t
        (self.changed if t.timer_id in self.loaded else self.new)[t.timer_id] = t

    def start(self, policy: Policy, start: Start, tid: str) -> Timer | None:
        armed = start_timer(self.timers.get(tid), policy, start, tid)
        if armed is not None:
            self._record(armed)
            self.started[tid] = armed
        return armed

    def stop(self, policy: Policy, clock: Clock, stop: Stop, tid: str) -> bool:
        """Stop the timer; True when there was none and a tombstone took its place."""
        existing = self.timers.get(tid)
        if existing is None:
            self._record(tombstone(policy, stop, tid))
            return True
        met = stop_timer(existing, stop, clock)
        self._record(existing)
        if met is not None:
            self.mets.append(met)
        return False


class TimerHandler:
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

    def _stages_moved_by(self, event_type: str) -> list[tuple[str, list[Policy]]]:
        # A stage's policies share their start and stop events (checked at load).
        return [
            (stage, group)
            for stage, group in self.stages.items()
            if group[0].starts(event_type) or group[0].stops(event_type)
        ]

    async def __call__(self, uow: UnitOfWork, items: list[Inbound[rev.RoutingEvent]]) -> None:
        handoffs = {
            item.event.data.handoff_id for item in items if self._stages_moved_by(item.event.type)
        }
        if not handoffs:
            return
        batch = BatchTimers.locked(await repository.lock_for_handoffs(uow.conn, handoffs))
        for item in items:
            self._apply(batch, item)
        inserted = await repository.insert_new(uow.conn, batch.new.values())
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
            [events_out.started(t, self._warning_point(t)) for t in started]
            + [events_out.met(m) for m in mets],
        )
        armed = [t for tid, t in batch.new.items() if tid in inserted] + list(
            batch.changed.values()
        )
        due = [t.next_at for t in armed if t.is_running and t.next_at is not None]
        # After the commit: the firer must see the new timer when it wakes, and a batch
        # retried after a database error must not count its met agreements twice.
        uow.after_commit(lambda: self._after_commit(mets, min(due) if due else None))

    def _warning_point(self, t: Timer) -> datetime | None:
        """When the armed timer will warn; None when its policy has no warning."""
        policy = self.by_name.get(t.policy)
        if policy is None or policy.warn_at is None:
            return None
        assert t.started_at is not None and t.due_at is not None
        return first_step_at(policy, t.started_at, t.due_at)

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

    def _apply(self, batch: BatchTimers, item: Inbound[rev.RoutingEvent]) -> None:
        event, data = item.event, item.event.data
        rep_id, at, assignment = _reported(event)
        if assignment is not None:
            batch.assignments[data.handoff_id] = assignment
        for stage, group in self._stages_moved_by(event.type):
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
