"""A batch of handoffs: what one transaction reads, decides and writes back, shared by the
consumer (per batch), the API (per request) and the queue sweep.

Order of locks, the same everywhere so instances never deadlock: the handoffs acted on (by id),
then every pool pointer (by name), then the queued handoffs. Everything read or decided is
written back at `finish` in a few set-based statements, with the events to the outbox.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog

from handoff.db import UnitOfWork
from handoff.events.encode import fact_id
from handoff.events.scoring import MqlData
from handoff.messaging import outbox
from handoff.messaging.producer import Message
from handoff_routing.adapters import decision_codec, events_out, handoffs
from handoff_routing.adapters.roster import RosterStore
from handoff_routing.adapters.tables import SCHEMA
from handoff_routing.config import RoutingConfig
from handoff_routing.domain import handoff as lifecycle
from handoff_routing.domain.decision import DecisionStep, decide, from_pool
from handoff_routing.domain.handoff import (
    Action,
    Handoff,
    HandoffNotFound,
    HandoffState,
    RepAction,
    UnknownRep,
)
from handoff_routing.domain.roster import Conditions, Load, Roster
from handoff_routing.domain.rules import LeadFacts

log = structlog.get_logger("handoff.routing")

QUEUE_BATCH = 500


def handoff_id_for(mql_id: str, attempt: int = 1) -> str:
    """Handoff ids anyone can recompute from the MQL: the first, then one per reassignment."""
    if attempt == 1:
        return fact_id("handoff", mql_id)
    return fact_id("handoff", mql_id, str(attempt))


def facts_of(mql: MqlData) -> LeadFacts:
    traits = mql.traits
    company = traits.company if traits else None
    extra = (traits.model_extra or {}) if traits else {}
    source = extra.get("source") or extra.get("lead_source")
    return LeadFacts.of(
        email=traits.email if traits else None,
        company_domain=company.domain if company else None,
        country=company.country if company else None,
        region=company.region if company else None,
        company_size=company.size if company else None,
        industry=company.industry if company else None,
        source=source if isinstance(source, str) else None,
        trigger=mql.trigger.kind,
        fit_grade=mql.fit_grade,
        score=mql.score,
        title=traits.title if traits else None,
    )


def facts_from(stored: dict[str, Any]) -> LeadFacts:
    return LeadFacts(stored.get("email_domain"), stored.get("company_domain"), stored)


@dataclass(frozen=True)
class Routing:
    """What routing needs at run time: the config, the roster cache, the clock."""

    config: RoutingConfig
    rosters: RosterStore
    clock: Callable[[], datetime]


@dataclass
class HandoffBatch:
    """The handoffs one transaction acts on, the decisions made and the events they cause;
    everything is written back at `finish`, in a few set-based statements."""

    uow: UnitOfWork
    routing: Routing
    now: datetime
    loaded: dict[str, Handoff] = field(default_factory=dict)  # read and locked by `load`
    changed: dict[str, Handoff] = field(default_factory=dict)
    created: list[Handoff] = field(default_factory=list)
    events: list[tuple[str | None, Message]] = field(default_factory=list)
    # Each assignment's decision steps, encoded once for its event and reused for its row.
    steps: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    roster: Roster | None = None
    pointers: dict[str, int] | None = None
    conditions: Conditions | None = None
    freed: bool = False  # someone may have capacity again: the queue should be looked at

    async def load(self, handoff_ids: list[str]) -> None:
        found = await handoffs.get_many(self.uow.conn, handoff_ids, for_update=True)
        self.loaded.update(found)

    async def open_router(self) -> Roster:
        """Lock the pool pointers and read the loads; from here on decisions can be made."""
        if self.roster is not None:
            return self.roster
        conn = self.uow.conn
        roster = await self.routing.rosters.current(conn)
        self.pointers = await handoffs.lock_pointers(conn, roster.pools_in_use())
        loads: dict[str, Load] = {}
        if roster.needs_open_counts() or roster.needs_daily_counts():
            loads = await handoffs.loads(
                conn,
                {r.id: r.day_start(self.now) for r in roster.reps.values()},
                open_=roster.needs_open_counts(),
                today=roster.needs_daily_counts(),
            )
        self.conditions = Conditions(now=self.now, loads=loads)
        self.roster = roster
        return roster

    def _announce(self, h: Handoff, roster: Roster, hid: str | None) -> None:
        """Queue `h`'s assignment event, keeping its encoded steps for the row."""
        steps = self.steps[h.handoff_id] = decision_codec.encode(h.decision)
        self.events.append((hid, events_out.assignment(h, roster, steps)))

    # -- routing

    async def route_mqls(self, mqls: list[tuple[str, MqlData]]) -> None:
        """Route new MQLs, each given with its first handoff's id (`handoff_id_for`)."""
        roster = await self.open_router()
        assert self.pointers is not None and self.conditions is not None
        rules = self.routing.config.rules
        for handoff_id, mql in mqls:
            facts = facts_of(mql)
            decision = decide(roster, rules, facts, self.pointers, self.conditions)
            h = Handoff(
                handoff_id=handoff_id,
                lead_id=mql.lead_id,
                mql_id=mql.mql_id,
                state=HandoffState.UNASSIGNED,
                rep_id=None,
                pool=None,
                rule=decision.rule,
                created_at=self.now,
                updated_at=self.now,
                facts=dict(facts.values),
                trigger=mql.trigger.kind,
                fit_grade=mql.fit_grade,
            )
            lifecycle.apply_decision(h, decision, self.now)
            self.created.append(h)
            self._announce(h, roster, h.handoff_id)

    async def reroute(self, h: Handoff, reason: str) -> Handoff:
        """A new handoff for the same MQL, away from every rep who already had it."""
        roster = await self.open_router()
        assert self.pointers is not None and self.conditions is not None
        following = lifecycle.successor(h, handoff_id_for(h.mql_id, h.attempt + 1), self.now)
        c = Conditions(self.now, self.conditions.loads, exclude=frozenset(following.excluded))
        decision = decide(roster, self.routing.config.rules, facts_from(h.facts), self.pointers, c)
        lifecycle.apply_decision(following, decision, self.now)
        why = DecisionStep(
            "reassign",
            True,
            h.pool,
            note=f"{reason}; left out: {', '.join(following.excluded)} (already had this lead)",
        )
        following.decision = (why, *following.decision)
        self.created.append(following)
        self.changed[h.handoff_id] = h
        self.events.append((None, events_out.reassigned(h, following, self.now, reason)))
        self._announce(following, roster, following.handoff_id)
        self.freed = True
        return following

    async def drain_queue(self) -> int:
        """Give waiting leads, oldest first, to reps who became available; the rest keep waiting."""
        roster = await self.open_router()
        assert self.pointers is not None and self.conditions is not None
        waiting = await handoffs.queued(self.uow.conn, QUEUE_BATCH)
        rules = {r.name: r for r in self.routing.config.rules}
        full: set[tuple[str | None, bool]] = set()  # pools found with nobody available
        assigned = 0
        for h in waiting:
            rule = rules.get(h.rule)
            hours = rule.respect_hours if rule is not None else False
            if not h.excluded and (h.pool, hours) in full:
                continue
            c = Conditions(self.now, self.conditions.loads, hours, frozenset(h.excluded))
            decision = from_pool(roster, h.rule, h.pool or roster.default_pool, self.pointers, c)
            if decision.rep_id is None:
                if not h.excluded:
                    full.add((h.pool, hours))
                continue
            queued_step = DecisionStep("queue", True, h.pool, note="assigned from the pool's queue")
            steps = (*h.decision, queued_step, *decision.steps)
            lifecycle.apply_decision(h, decision, self.now)
            h.decision = steps
            self.changed[h.handoff_id] = h
            self._announce(h, roster, None)
            assigned += 1
        return assigned

    # -- reps' actions

    async def act(self, a: RepAction) -> Handoff:
        """Apply one action; raises UnknownRep, HandoffNotFound, HandoffConflict or
        UnknownReasonCode, before changing anything."""
        roster = self.roster or await self.routing.rosters.current(self.uow.conn)
        if a.rep_id not in roster.reps:
            raise UnknownRep(a.rep_id)
        h = self.loaded.get(a.handoff_id)
        if h is None:
            raise HandoffNotFound(a.handoff_id)
        await _ACTIONS[a.action](self, h, a)
        return h

    async def _accept(self, h: Handoff, a: RepAction) -> None:
        if lifecycle.accept(h, a.rep_id, self.now):
            self._changed(h, events_out.accepted(h, self.now))

    async def _contact(self, h: Handoff, a: RepAction) -> None:
        if lifecycle.contact(h, a.rep_id, a.channel, self.now):
            self._changed(h, events_out.contacted(h, self.now))

    async def _disposition(self, h: Handoff, a: RepAction) -> None:
        assert a.outcome is not None
        at = self.now
        if lifecycle.disposition(h, a.rep_id, a.outcome, a.note, at, a.recycle_after_days):
            self._changed(h, events_out.dispositioned(h, at))
            if h.recycle_until is not None:
                self.events.append((None, events_out.recycled(h, at)))

    async def _reject(self, h: Handoff, a: RepAction) -> None:
        assert a.reason_code is not None
        at = self.now
        if not lifecycle.reject(
            h, a.rep_id, a.reason_code, a.note, at, self.routing.config.reasons
        ):
            return
        self._changed(h, events_out.rejected(h, at))
        self.freed = True
        if h.follow_up == "recycled":
            self.events.append((None, events_out.recycled(h, at)))
        elif h.follow_up == "reassigned":
            await self.reroute(h, f"rejected: {a.reason_code}")

    def _changed(self, h: Handoff, event: Message) -> None:
        self.changed[h.handoff_id] = h
        self.events.append((None, event))
        if h.state is not HandoffState.ASSIGNED:
            self.freed = True

    async def escalate(self, handoff_id: str, level: int) -> None:
        """An SLA escalation with action reassign: take the lead from its rep and route it again."""
        h = self.loaded.get(handoff_id)
        if h is None:
            log.warning("routing.escalation.unknown_handoff", handoff_id=handoff_id)
            return
        if not lifecycle.take_away(h, self.now):
            log.info(
                "routing.escalation.ignored",
                handoff_id=handoff_id,
                lead_id=h.lead_id,
                state=str(h.state),
            )
            return
        await self.reroute(h, f"sla escalation level {level}")

    # -- the end of the transaction

    async def finish(self) -> None:
        conn = self.uow.conn
        await handoffs.update_many(conn, list(self.changed.values()), self.steps)
        if self.created:
            # New handoffs, pointers and events in one statement, the usual case per batch.
            inserted = await handoffs.insert_with_events(
                conn, self.created, self.pointers or {}, self.events, self.steps
            )
        else:
            inserted = set()
            if self.pointers is not None:
                await handoffs.save_pointers(conn, self.pointers)
            await outbox.append(conn, SCHEMA, [e for _, e in self.events])
        # A handoff that another instance inserted first is not announced twice.
        events = [e for hid, e in self.events if hid is None or hid in inserted]
        for h in self.created:
            if h.handoff_id in inserted:
                log.debug(
                    "routing.assigned" if h.rep_id else "routing.unassigned",
                    lead_id=h.lead_id,
                    handoff_id=h.handoff_id,
                    rep_id=h.rep_id,
                    pool=h.pool,
                    rule=h.rule,
                )
        if self.created or self.changed:
            log.info(
                "routing.batch.applied",
                assigned=sum(1 for h in self.created if h.rep_id and h.handoff_id in inserted),
                unassigned=sum(
                    1 for h in self.created if not h.rep_id and h.handoff_id in inserted
                ),
                changed=len(self.changed),
                events=len(events),
            )


_ACTIONS: dict[Action, Callable[[HandoffBatch, Handoff, RepAction], Awaitable[None]]] = {
    Action.ACCEPT: HandoffBatch._accept,
    Action.CONTACT: HandoffBatch._contact,
    Action.DISPOSITION: HandoffBatch._disposition,
    Action.REJECT: HandoffBatch._reject,
}
