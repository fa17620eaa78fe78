"""sla-watch on real PostgreSQL: policy choice, warnings, escalation chains, re-arming on
reassignment, business time, catch-up after downtime, and effects only after the commit."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from handoff.db import UnitOfWorkFactory, asyncpg_dsn
from handoff.events import routing, sla
from handoff.messaging.consumer import Inbound
from handoff_sla_watch.adapters import timers as repository
from handoff_sla_watch.adapters.metrics import MET
from handoff_sla_watch.config import load_policies
from handoff_sla_watch.domain.firing import fire
from handoff_sla_watch.domain.model import Timer, TimerState
from handoff_sla_watch.entrypoints.firer import fire_due
from handoff_sla_watch.service_layer.firing import Firing
from handoff_sla_watch.service_layer.timers import TimerHandler
from tests.factories import new_id
from tests.sla_reference import fired_event

SLA_YAML = """
calendars:
  tokyo:
    timezone: Asia/Tokyo
    hours: {mon-fri: ["09:00-12:00", "13:00-18:00"]}
    holidays: JP
policies:
  - name: accept-demo
    stage: accept
    when: {mql_trigger: activity}
    starts_on: handoff.lead.assigned
    stops_on: [handoff.lead.accepted, handoff.lead.rejected, handoff.lead.reassigned]
    within: 30m
  - name: accept-jp
    stage: accept
    when: 'team == "inside-sales-jp"'
    starts_on: handoff.lead.assigned
    stops_on: [handoff.lead.accepted, handoff.lead.rejected, handoff.lead.reassigned]
    within: 2h
    calendar: tokyo
  - name: accept
    stage: accept
    starts_on: handoff.lead.assigned
    stops_on: [handoff.lead.accepted, handoff.lead.rejected, handoff.lead.reassigned]
    within: 4h
    warn_at: 75%
    escalations:
      - action: remind
      - after: 4h
        action: escalate_to_manager
      - after: 8h
        action: reassign
  - name: contact-jp
    stage: first_contact
    when: {team: inside-sales-jp}
    starts_on: handoff.lead.accepted
    stops_on: [handoff.lead.contacted, handoff.lead.reassigned]
    within: 8h
    calendar: tokyo
  - name: contact
    stage: first_contact
    starts_on: handoff.lead.accepted
    stops_on: [handoff.lead.contacted, handoff.lead.reassigned]
    within: 2d
"""


@pytest.fixture
async def pg(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A raw connection for the firer, which speaks asyncpg directly."""
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    yield conn
    await conn.close()


def policies(tmp_path: Path) -> Any:
    path = tmp_path / "sla.yaml"
    path.write_text(SLA_YAML)
    return load_policies(path)


def assigned(
    lead: str, handoff: str, at: datetime, rep: str = "rep-1", **extra: Any
) -> routing.LeadAssigned:
    return routing.LeadAssigned(
        id=new_id("evt"),
        subject=lead,
        data=routing.AssignedData(
            lead_id=lead,
            handoff_id=handoff,
            mql_id=new_id("mql"),
            rep_id=rep,
            pool="emea",
            rule="territory",
            assigned_at=at,
            decision=[],
            **extra,
        ),
    )


def acted(kind: type[Any], lead: str, handoff: str, at: datetime, rep: str = "rep-1") -> Any:
    data_cls = (
        routing.ReassignedData if kind is routing.LeadReassigned else routing.HandoffActionData
    )
    return kind(
        id=new_id("evt"),
        subject=lead,
        data=data_cls(lead_id=lead, handoff_id=handoff, rep_id=rep, at=at),
    )


async def apply(engine: AsyncEngine, handler: TimerHandler, events: list[Any]) -> None:
    items = [Inbound(e, routing.TOPIC, 0, n) for n, e in enumerate(events)]
    async with UnitOfWorkFactory(engine)() as uow:
        await handler(uow, items)
        await uow.commit()


async def timers_of(engine: AsyncEngine, handoff: str) -> dict[str, Timer]:
    async with engine.connect() as conn:
        return {t.stage: t for t in (await repository.lock_for_handoffs(conn, [handoff])).values()}


async def sla_events(engine: AsyncEngine, lead: str, *, started: bool = False) -> list[Any]:
    """What sla-watch outboxed for the lead, in order; the timers' starts only if asked
    (most tests here are about what fires and what is met)."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT value FROM sla.outbox WHERE key = :k ORDER BY id"), {"k": lead.encode()}
        )
        events = [sla.sla_event_adapter.validate_json(r.value) for r in rows]
        return [e for e in events if started or not isinstance(e, sla.SlaStarted)]


def described(events: list[Any]) -> list[str]:
    out = []
    for e in events:
        if isinstance(e, sla.SlaEscalated):
            out.append(f"{e.data.level}:{e.data.action}->{e.data.target}")
        else:
            out.append(e.type.rsplit(".", 1)[1])
    return out


async def test_the_assignment_chooses_the_policy_and_later_stages_remember_it(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    handler = TimerHandler(policies(tmp_path))
    now = datetime.now(UTC)
    demo, jp, plain = (new_id("H") for _ in range(3))
    lead = new_id()
    await apply(
        engine,
        handler,
        [
            assigned(lead, demo, now, mql_trigger="activity", team="inside-sales-jp"),
            assigned(lead, jp, now, mql_trigger="threshold", team="inside-sales-jp"),
            assigned(lead, plain, now, mql_trigger="threshold", team="inside-sales-global"),
        ],
    )
    assert (await timers_of(engine, demo))["accept"].policy == "accept-demo"
    assert (await timers_of(engine, jp))["accept"].policy == "accept-jp"
    assert (await timers_of(engine, plain))["accept"].policy == "accept"
    # first_contact starts on the accept, which does not say the team: the assignment does.
    await apply(engine, handler, [acted(routing.LeadAccepted, lead, jp, now)])
    contact = (await timers_of(engine, jp))["first_contact"]
    assert contact.policy == "contact-jp" and contact.team == "inside-sales-jp"


async def test_warning_breach_and_the_escalation_chain_fire_once_each_in_order(
    engine: AsyncEngine, pg: asyncpg.Connection, tmp_path: Path
) -> None:
    ps = policies(tmp_path)
    handler, firing = TimerHandler(ps), Firing(ps)
    lead, handoff = new_id(), new_id("H")
    t0 = datetime.now(UTC) - timedelta(minutes=1)
    await apply(engine, handler, [assigned(lead, handoff, t0, manager_id="hiroshi.yamamoto")])
    for hours in (1, 3, 3, 4, 7, 8, 12, 30):
        await fire_due(pg, firing, now=t0 + timedelta(hours=hours, seconds=1))
    events = await sla_events(engine, lead)
    assert described(events) == [
        "warning",
        "breached",
        "1:remind->rep-1",
        "2:escalate_to_manager->hiroshi.yamamoto",
        "3:reassign->emea",
    ]
    assert len({e.id for e in events}) == len(events)
    assert all(e.data.due_at == t0 + timedelta(hours=4) for e in events)
    timer = (await timers_of(engine, handoff))["accept"]
    assert (timer.state, timer.escalation_level, timer.next_at) == (TimerState.BREACHED, 3, None)


async def test_the_json_postgresql_writes_is_the_event_the_models_describe(
    engine: AsyncEngine, pg: asyncpg.Connection, tmp_path: Path
) -> None:
    ps = policies(tmp_path)
    handler, firing = TimerHandler(ps), Firing(ps)
    lead, handoff = new_id() + '-"quoted\\ é', new_id("H")  # escaped as JSON must
    t0 = datetime.now(UTC) - timedelta(hours=13, microseconds=1)
    await apply(engine, handler, [assigned(lead, handoff, t0)])
    async with engine.begin() as conn:  # absent fields are left out, as the models' JSON does
        await conn.execute(
            text("UPDATE sla.timers SET rep_id = NULL WHERE handoff_id = :h"), {"h": handoff}
        )
    timer = (await timers_of(engine, handoff))["accept"]
    now = datetime.now(UTC)
    await fire_due(pg, firing, now=now)
    expected = [fired_event(timer, step) for step in fire(timer, firing.by_name[timer.policy], now)]
    assert [e.type.rsplit(".", 1)[1] for e in expected] == ["breached", *["escalated"] * 3]
    assert await sla_events(engine, lead) == expected


async def test_after_downtime_an_overdue_timer_fires_its_missed_steps_once_marked_late(
    engine: AsyncEngine, pg: asyncpg.Connection, tmp_path: Path
) -> None:
    ps = policies(tmp_path)
    handler, firing = TimerHandler(ps), Firing(ps)
    lead, handoff = new_id(), new_id("H")
    t0 = datetime.now(UTC) - timedelta(hours=10)  # down since before the warning point
    await apply(engine, handler, [assigned(lead, handoff, t0)])
    await fire_due(pg, firing)
    await fire_due(pg, firing)
    events = await sla_events(engine, lead)
    assert described(events) == ["breached", "1:remind->rep-1", "2:escalate_to_manager->None"]
    late = [e.data.late_by_seconds for e in events]
    assert 6 * 3600 - 5 < late[0] < 6 * 3600 + 60 and late[0] == late[1]
    assert 2 * 3600 - 5 < late[2] < 2 * 3600 + 60


async def test_a_reassignment_rearms_the_accept_clock_for_the_new_rep(
    engine: AsyncEngine, pg: asyncpg.Connection, tmp_path: Path
) -> None:
    ps = policies(tmp_path)
    handler, firing = TimerHandler(ps), Firing(ps)
    lead, handoff = new_id(), new_id("H")
    t0 = datetime.now(UTC) - timedelta(hours=13)
    await apply(engine, handler, [assigned(lead, handoff, t0)])
    await fire_due(pg, firing)  # breach and the chain up to "reassign"
    assert described(await sla_events(engine, lead))[-1] == "3:reassign->emea"
    # routing answers the reassign: reassigned, then a new assignment of the same handoff
    t1 = datetime.now(UTC)
    wake: list[datetime] = []
    handler.wake = wake.append
    await apply(
        engine,
        handler,
        [
            acted(routing.LeadReassigned, lead, handoff, t1, rep="rep-2"),
            assigned(lead, handoff, t1, rep="rep-2"),
        ],
    )
    timer = (await timers_of(engine, handoff))["accept"]
    assert (timer.state, timer.rep_id, timer.started_at) == (TimerState.PENDING, "rep-2", t1)
    assert timer.due_at == t1 + timedelta(hours=4) and timer.escalation_level == 0
    assert wake == [t1 + timedelta(hours=3)]  # rung for the new warning point
    await apply(
        engine,
        handler,
        [acted(routing.LeadAccepted, lead, handoff, t1 + timedelta(minutes=5), rep="rep-2")],
    )
    events = await sla_events(engine, lead)
    assert described(events)[-1] == "met"
    assert events[-1].data.rep_id == "rep-2" and events[-1].data.elapsed.wall_seconds == 300
    assert len({e.id for e in events}) == len(events)


async def test_business_seconds_of_a_met_agreement_skip_the_lunch_hour(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    handler = TimerHandler(policies(tmp_path))
    lead, handoff = new_id(), new_id("H")
    # Tuesday 24 November 2026, 11:30 in Tokyo; accepted at 13:30: 2 hours, 1 of them business.
    t0 = datetime(2026, 11, 24, 2, 30, tzinfo=UTC)
    await apply(engine, handler, [assigned(lead, handoff, t0, team="inside-sales-jp")])
    assert (await timers_of(engine, handoff))["accept"].due_at == t0 + timedelta(hours=3)
    await apply(
        engine, handler, [acted(routing.LeadAccepted, lead, handoff, t0 + timedelta(hours=2))]
    )
    (met,) = await sla_events(engine, lead)
    assert isinstance(met, sla.SlaMet)
    assert (met.data.elapsed.wall_seconds, met.data.elapsed.business_seconds) == (7200, 3600)


async def test_nothing_is_rung_or_counted_for_a_batch_that_rolls_back(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    wake: list[datetime] = []
    handler = TimerHandler(policies(tmp_path), wake=wake.append)
    lead, handoff = new_id(), new_id("H")
    now = datetime.now(UTC)
    batch = [
        Inbound(e, routing.TOPIC, 0, n)
        for n, e in enumerate(
            [
                assigned(lead, handoff, now),
                acted(routing.LeadAccepted, lead, handoff, now),
                assigned(lead, new_id("H"), now),  # stays pending: the firer would be rung
            ]
        )
    ]
    met_before = MET.labels("accept", "accept")._value.get()
    async with UnitOfWorkFactory(engine)() as uow:
        await handler(uow, batch)  # a database error here would roll it back: no commit
    assert wake == [] and MET.labels("accept", "accept")._value.get() == met_before
    async with UnitOfWorkFactory(engine)() as uow:  # the retry
        await handler(uow, batch)
        await uow.commit()
    assert MET.labels("accept", "accept")._value.get() == met_before + 1
    assert wake == [now + timedelta(hours=3)]
    assert described(await sla_events(engine, lead)) == ["met"]


async def queued(engine: AsyncEngine, handoff: str) -> list[tuple[datetime, str]]:
    """The handoff's accept timer's rows in the due queue: (next_at, kind)."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT d.next_at, d.kind FROM sla.due AS d JOIN sla.timers AS t "
                "USING (timer_id) WHERE t.handoff_id = :h AND t.stage = 'accept' ORDER BY d.next_at"
            ),
            {"h": handoff},
        )
        return [(r.next_at, r.kind) for r in rows]


async def test_the_due_queue_follows_the_timer_from_warning_to_escalation_and_the_stop(
    engine: AsyncEngine, pg: asyncpg.Connection, tmp_path: Path
) -> None:
    ps = policies(tmp_path)
    handler, firing = TimerHandler(ps), Firing(ps)
    lead, handoff = new_id(), new_id("H")
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    await apply(engine, handler, [assigned(lead, handoff, t0)])
    assert await queued(engine, handoff) == [(t0 + timedelta(hours=3), "warning")]

    await fire_due(pg, firing, now=t0 + timedelta(hours=3, seconds=1))
    assert await queued(engine, handoff) == [(t0 + timedelta(hours=4), "breach")]

    await fire_due(pg, firing, now=t0 + timedelta(hours=4, seconds=1))  # breach, then remind
    assert await queued(engine, handoff) == [(t0 + timedelta(hours=8), "escalation")]
    timer = (await timers_of(engine, handoff))["accept"]
    assert (timer.state, timer.next_at) == (TimerState.BREACHED, t0 + timedelta(hours=8))

    await apply(engine, handler, [acted(routing.LeadAccepted, lead, handoff, datetime.now(UTC))])
    assert await queued(engine, handoff) == []
    assert (await timers_of(engine, handoff))["accept"].state is TimerState.CANCELLED
    # Nothing is left to fire: the manager's step never comes.
    await fire_due(pg, firing, now=t0 + timedelta(hours=9))
    assert described(await sla_events(engine, lead)) == ["warning", "breached", "1:remind->rep-1"]
