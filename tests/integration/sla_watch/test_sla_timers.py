"""sla-watch on real PostgreSQL: routing events arm, meet, tombstone timers; due ones fire once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from handoff.db import UnitOfWorkFactory, asyncpg_dsn
from handoff.events import routing, sla
from handoff.messaging.consumer import Inbound
from handoff_sla_watch.adapters import timers as repository
from handoff_sla_watch.domain.model import Policy, Timer, TimerState
from handoff_sla_watch.entrypoints.firer import fire_due
from handoff_sla_watch.service_layer.timers import TimerHandler, timer_id
from tests.factories import new_id

ACCEPT = Policy(
    name="accept-within",
    stage="accept",
    starts_on="handoff.lead.assigned",
    stops_on=frozenset(
        {"handoff.lead.accepted", "handoff.lead.rejected", "handoff.lead.reassigned"}
    ),
    within=timedelta(hours=24),
)
LONG_AGO = datetime.now(UTC) - timedelta(
    hours=25
)  # assigned then, the accept timer is an hour overdue


@pytest.fixture
async def pg(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A raw connection for the firer, which speaks asyncpg directly."""
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    yield conn
    await conn.close()


def assigned(
    lead_id: str, handoff_id: str, *, at: datetime, rep_id: str = "rep-1"
) -> routing.LeadAssigned:
    return routing.LeadAssigned(
        id=new_id("evt"),
        subject=lead_id,
        data=routing.AssignedData(
            lead_id=lead_id,
            handoff_id=handoff_id,
            mql_id=new_id("mql"),
            rep_id=rep_id,
            pool="emea",
            rule="territory",
            assigned_at=at,
            decision=[],
        ),
    )


def accepted(
    lead_id: str, handoff_id: str, *, at: datetime, rep_id: str = "rep-1"
) -> routing.LeadAccepted:
    return routing.LeadAccepted(
        id=new_id("evt"),
        subject=lead_id,
        data=routing.HandoffActionData(
            lead_id=lead_id, handoff_id=handoff_id, rep_id=rep_id, at=at
        ),
    )


async def apply(engine: AsyncEngine, events: list[Any], wake: list[datetime] | None = None) -> None:
    items = [Inbound(e, routing.TOPIC, 0, n) for n, e in enumerate(events)]
    async with UnitOfWorkFactory(engine)() as uow:
        await TimerHandler([ACCEPT], wake=wake.append if wake is not None else None)(uow, items)
        await uow.commit()


async def timer_of(engine: AsyncEngine, handoff_id: str) -> Timer:
    async with engine.connect() as conn:
        found = await repository.lock_for_handoffs(conn, [handoff_id])
    return found[timer_id(handoff_id, "accept")]


async def sla_events(engine: AsyncEngine, lead_id: str, *, started: bool = False) -> list[Any]:
    """What sla-watch outboxed for the lead, in order; the timers' starts only if asked
    (most tests here are about what fires and what is met)."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT value FROM sla.outbox WHERE key = :k ORDER BY id"), {"k": lead_id.encode()}
        )
        events = [sla.sla_event_adapter.validate_json(r.value) for r in rows]
        return [e for e in events if started or not isinstance(e, sla.SlaStarted)]


async def attempts_of(engine: AsyncEngine, handoff_ids: list[str]) -> list[int]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT attempts FROM sla.timers WHERE timer_id = ANY(CAST(:ids AS text[]))"),
            {"ids": [timer_id(h, "accept") for h in handoff_ids]},
        )
        return [r.attempts for r in rows]


async def test_an_assignment_arms_a_timer_and_wakes_the_firer_for_it(engine: AsyncEngine) -> None:
    lead, handoff = new_id(), new_id("H")
    now = datetime.now(UTC)
    wake: list[datetime] = []
    await apply(engine, [assigned(lead, handoff, at=now)], wake)
    timer = await timer_of(engine, handoff)
    assert timer.state is TimerState.PENDING
    assert timer.due_at == now + timedelta(hours=24)
    assert (timer.lead_id, timer.rep_id, timer.pool) == (lead, "rep-1", "emea")
    assert wake == [timer.due_at]


async def test_an_overdue_timer_breaches_once_with_its_lateness(
    engine: AsyncEngine, pg: asyncpg.Connection
) -> None:
    lead, handoff = new_id(), new_id("H")
    await apply(engine, [assigned(lead, handoff, at=LONG_AGO)])
    before = datetime.now(UTC)
    assert await fire_due(pg) >= 1
    after = datetime.now(UTC)
    assert await fire_due(pg) == 0
    timer = await timer_of(engine, handoff)
    assert timer.state is TimerState.BREACHED
    assert timer.fired_at is not None
    assert await attempts_of(engine, [handoff]) == [1]
    (event,) = await sla_events(engine, lead)
    assert isinstance(event, sla.SlaBreached)
    assert event.subject == lead
    assert event.data.timer_id == timer.timer_id and event.data.handoff_id == handoff
    assert event.data.due_at == LONG_AGO + timedelta(hours=24)
    # An hour late (as after an hour's downtime), measured when it fired, however slow the suite.
    due = LONG_AGO + timedelta(hours=24)
    assert (before - due).total_seconds() - 1 <= event.data.late_by_seconds
    assert event.data.late_by_seconds <= (after - due).total_seconds() + 1
    assert event.data.late_by_seconds >= 3590


async def test_a_timer_not_yet_due_does_not_fire(
    engine: AsyncEngine, pg: asyncpg.Connection
) -> None:
    lead, handoff = new_id(), new_id("H")
    await apply(engine, [assigned(lead, handoff, at=datetime.now(UTC))])
    await fire_due(pg)
    assert (await timer_of(engine, handoff)).state is TimerState.PENDING
    assert await sla_events(engine, lead) == []


async def test_a_pass_at_a_later_time_fires_the_timers_due_by_then(
    engine: AsyncEngine, pg: asyncpg.Connection
) -> None:
    lead, handoff = new_id(), new_id("H")
    now = datetime.now(UTC)
    await apply(engine, [assigned(lead, handoff, at=now)])
    await fire_due(pg, now=now + timedelta(hours=24, seconds=2))
    (event,) = await sla_events(engine, lead)
    assert isinstance(event, sla.SlaBreached)
    assert event.data.late_by_seconds == pytest.approx(2.0)


async def test_an_accept_in_time_meets_the_sla_and_says_how_long_it_took(
    engine: AsyncEngine,
) -> None:
    lead, handoff = new_id(), new_id("H")
    now = datetime.now(UTC)
    await apply(engine, [assigned(lead, handoff, at=now)])
    await apply(engine, [accepted(lead, handoff, at=now + timedelta(minutes=5))])
    timer = await timer_of(engine, handoff)
    assert timer.state is TimerState.MET
    (event,) = await sla_events(engine, lead)
    assert isinstance(event, sla.SlaMet)
    assert event.data.elapsed.wall_seconds == 300
    assert event.data.met_at == now + timedelta(minutes=5)


async def test_an_assignment_and_its_accept_in_one_batch_meet_the_sla(engine: AsyncEngine) -> None:
    lead, handoff = new_id(), new_id("H")
    now = datetime.now(UTC)
    await apply(engine, [assigned(lead, handoff, at=now), accepted(lead, handoff, at=now)])
    assert (await timer_of(engine, handoff)).state is TimerState.MET
    assert [type(e) for e in await sla_events(engine, lead)] == [sla.SlaMet]


@pytest.mark.parametrize("same_batch", [False, True], ids=["separate-batches", "one-batch"])
async def test_an_accept_before_its_assignment_leaves_a_tombstone_and_nothing_fires(
    engine: AsyncEngine, pg: asyncpg.Connection, same_batch: bool
) -> None:
    lead, handoff = new_id(), new_id("H")
    accept, assign = accepted(lead, handoff, at=LONG_AGO), assigned(lead, handoff, at=LONG_AGO)
    wake: list[datetime] = []
    if same_batch:
        await apply(engine, [accept, assign], wake)
    else:
        await apply(engine, [accept], wake)
        await apply(engine, [assign], wake)
    timer = await timer_of(engine, handoff)
    assert timer.is_tombstone and timer.state is TimerState.CANCELLED
    assert wake == []
    await fire_due(pg)
    assert (await timer_of(engine, handoff)).state is TimerState.CANCELLED
    assert await sla_events(engine, lead) == []


async def test_a_replayed_assignment_keeps_the_first_due_time(engine: AsyncEngine) -> None:
    lead, handoff = new_id(), new_id("H")
    first = datetime.now(UTC)
    await apply(engine, [assigned(lead, handoff, at=first)])
    await apply(engine, [assigned(lead, handoff, at=first + timedelta(hours=1))])
    assert (await timer_of(engine, handoff)).due_at == first + timedelta(hours=24)


async def test_an_accept_after_the_breach_closes_it_but_keeps_when_it_fired(
    engine: AsyncEngine, pg: asyncpg.Connection
) -> None:
    lead, handoff = new_id(), new_id("H")
    rep = new_id("rep")
    await apply(engine, [assigned(lead, handoff, at=LONG_AGO, rep_id=rep)])
    await fire_due(pg)
    async with engine.connect() as conn:
        assert [
            t.handoff_id
            for t in await repository.open_breaches(conn, rep_id=rep, pool=None, limit=10)
        ] == [handoff]
    await apply(engine, [accepted(lead, handoff, at=datetime.now(UTC), rep_id=rep)])
    timer = await timer_of(engine, handoff)
    assert timer.state is TimerState.CANCELLED and timer.fired_at is not None
    async with engine.connect() as conn:
        assert await repository.open_breaches(conn, rep_id=rep, pool=None, limit=10) == []
    assert [type(e) for e in await sla_events(engine, lead)] == [sla.SlaBreached]


async def test_open_breaches_are_listed_oldest_due_first_and_filtered_by_rep_and_pool(
    engine: AsyncEngine, pg: asyncpg.Connection
) -> None:
    rep = new_id("rep")
    handoffs = [new_id("H") for _ in range(3)]
    await apply(
        engine,
        [
            assigned(new_id(), h, at=LONG_AGO - timedelta(minutes=n), rep_id=rep)
            for n, h in enumerate(handoffs)
        ],
    )
    await apply(engine, [assigned(new_id(), new_id("H"), at=LONG_AGO, rep_id=new_id("rep"))])
    await fire_due(pg)
    async with engine.connect() as conn:
        mine = await repository.open_breaches(conn, rep_id=rep, pool=None, limit=10)
        in_pool = await repository.open_breaches(conn, rep_id=rep, pool="emea", limit=2)
        elsewhere = await repository.open_breaches(conn, rep_id=rep, pool="apac", limit=10)
    assert [t.handoff_id for t in mine] == list(reversed(handoffs))
    assert [t.handoff_id for t in in_pool] == list(reversed(handoffs))[:2]
    assert elsewhere == []


async def test_two_concurrent_passes_never_fire_the_same_timer_twice(
    engine: AsyncEngine, database_url: str
) -> None:
    leads = [new_id() for _ in range(40)]
    handoffs = [new_id("H") for _ in leads]
    await apply(
        engine, [assigned(lead, h, at=LONG_AGO) for lead, h in zip(leads, handoffs, strict=True)]
    )
    conns = [await asyncpg.connect(asyncpg_dsn(database_url)) for _ in range(3)]
    try:
        for _ in range(10):
            fired = await asyncio.gather(*(fire_due(c, limit=7) for c in conns))
            if sum(fired) == 0:
                break
    finally:
        for c in conns:
            await c.close()
    assert await attempts_of(engine, handoffs) == [1] * len(handoffs)
    for lead in leads:
        assert [type(e) for e in await sla_events(engine, lead)] == [sla.SlaBreached]
