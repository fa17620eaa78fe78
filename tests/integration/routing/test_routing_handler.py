"""Routing's handlers on real PostgreSQL: MQLs become handoffs and outbox events; reps act."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from handoff.db import UnitOfWorkFactory
from handoff.events import routing, scoring
from handoff.events.envelope import fact_id
from handoff.messaging.consumer import Inbound
from handoff_routing.adapters import decision_codec
from handoff_routing.adapters.roster import RosterStore
from handoff_routing.config import RoutingConfig
from handoff_routing.domain.handoff import Action, HandoffState, RepAction
from handoff_routing.domain.reasons import FollowUp, ReasonCode, ReasonCodes
from handoff_routing.domain.roster import Pool, Rep, Roster
from handoff_routing.service_layer import handlers
from handoff_routing.service_layer.handlers import RoutingHandler
from handoff_routing.service_layer.handoff_batch import Routing, handoff_id_for
from tests.factories import T0, mql, new_id

REASONS = ReasonCodes(
    [
        ReasonCode("no_budget", "No budget", "予算なし", FollowUp.RECYCLE, 90),
        ReasonCode("wrong_territory", "Wrong territory", "担当外", FollowUp.REASSIGN),
        ReasonCode("do_not_call", "Do not call", "架電NG", FollowUp.DISQUALIFY),
    ]
)


class FixedRoster(RosterStore):
    """The roster a test describes, instead of the shared database's roster table."""

    def __init__(self, roster: Roster) -> None:
        super().__init__(roster.default_pool)
        self.roster = roster

    async def current(self, conn: Any) -> Roster:
        return self.roster


def team(*reps: tuple[str, bool], **rep_fields: Any) -> Roster:
    """A roster with a pool of its own: the database is shared, so each test gets a new pointer."""
    pool = f"pool-{uuid.uuid4().hex[:8]}"
    return Roster(
        reps={
            r: Rep(r, r.title(), f"{r}@example.com", "inside-sales", active, "boss", **rep_fields)
            for r, active in reps
        },
        pools={pool: Pool(pool, tuple(r for r, _ in reps))},
        default_pool=pool,
    )


def routing_for(roster: Roster) -> Routing:
    config = RoutingConfig((), (), (), (), roster.default_pool, REASONS)
    return Routing(config, FixedRoster(roster), lambda: T0)


async def route(engine: AsyncEngine, roster: Roster | Routing, events: Sequence[Any]) -> None:
    routing = roster if isinstance(roster, Routing) else routing_for(roster)
    items = [Inbound(e, scoring.TOPIC, 0, n) for n, e in enumerate(events)]
    async with UnitOfWorkFactory(engine)() as uow:
        await RoutingHandler(routing)(uow, items)
        await uow.commit()


async def act(engine: AsyncEngine, roster: Roster | Routing, action: RepAction) -> Any:
    routing = roster if isinstance(roster, Routing) else routing_for(roster)
    async with UnitOfWorkFactory(engine)() as uow:
        handoff, _ = await handlers.act(uow, routing, action)
        await uow.commit()
    return handoff


async def handoffs_of(engine: AsyncEngine, lead_ids: Sequence[str]) -> dict[str, Any]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT * FROM routing.handoffs WHERE lead_id = ANY(CAST(:ids AS text[])) "
                "ORDER BY attempt"
            ),
            {"ids": list(lead_ids)},
        )
        return {row.lead_id: row for row in rows}


async def outbox_of(engine: AsyncEngine, lead_ids: Sequence[str]) -> list[Any]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT topic, key, value FROM routing.outbox "
                "WHERE key = ANY(CAST(:keys AS bytea[])) ORDER BY id"
            ),
            {"keys": [lead.encode() for lead in lead_ids]},
        )
        events = []
        for row in rows:
            assert row.topic == routing.TOPIC
            event = routing.routing_event_adapter.validate_json(row.value)
            assert event.subject is not None and row.key == event.subject.encode()
            events.append(event)
        return events


async def test_mqls_are_assigned_round_robin_over_active_reps_and_announced(
    engine: AsyncEngine,
) -> None:
    roster = team(("aiko", True), ("yui", False), ("kenji", True))
    leads = [new_id() for _ in range(3)]
    mqls = [mql(lead) for lead in leads]
    await route(engine, roster, mqls)

    rows = await handoffs_of(engine, leads)
    assert [rows[lead].rep_id for lead in leads] == ["aiko", "kenji", "aiko"]
    first = rows[leads[0]]
    assert first.handoff_id == handoff_id_for(mqls[0].data.mql_id)
    assert first.mql_id == mqls[0].data.mql_id
    assert first.state == "assigned"
    assert first.pool == roster.default_pool
    assert first.rule == "default_pool"
    assert first.assigned_at == T0
    second = rows[leads[1]]
    # Stored in the events' form (adapters/decision_codec.py): the chosen rep has no `skipped`.
    assert second.decision[0]["candidates"] == [
        {"rep_id": "yui", "skipped": "inactive"},
        {"rep_id": "kenji"},
    ]

    events = await outbox_of(engine, leads)
    assert [type(e) for e in events] == [routing.LeadAssigned] * 3
    assert [e.data.rep_id for e in events] == ["aiko", "kenji", "aiko"]
    announced = events[1]
    assert announced.id == fact_id("assigned", second.handoff_id)
    assert announced.subject == leads[1]
    assert announced.data.handoff_id == second.handoff_id
    assert announced.data.mql_id == mqls[1].data.mql_id
    assert announced.data.decision[0].candidates[0].skipped == "inactive"


async def test_a_new_handoffs_decision_is_encoded_once_for_its_row_and_its_event(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    encoded: list[object] = []
    encode = decision_codec.encode

    def counted(steps: Any) -> list[dict[str, Any]]:
        encoded.append(steps)
        return encode(steps)

    monkeypatch.setattr(decision_codec, "encode", counted)
    roster = team(("aiko", False), ("kenji", True))
    leads = [new_id() for _ in range(3)]
    await route(engine, roster, [mql(lead) for lead in leads])

    assert len(encoded) == 3  # one per handoff: the event and the row share the encoded steps
    rows = await handoffs_of(engine, leads)
    events = {e.subject: e for e in await outbox_of(engine, leads)}
    for lead in leads:
        announced = [s.model_dump(exclude_none=True) for s in events[lead].data.decision]
        assert rows[lead].decision == announced
        assert rows[lead].decision[0]["candidates"][0] == {"rep_id": "aiko", "skipped": "inactive"}


async def test_the_round_robin_position_carries_over_to_the_next_batch(engine: AsyncEngine) -> None:
    roster = team(("aiko", True), ("kenji", True), ("emma", True))
    first, second = new_id(), new_id()
    await route(engine, roster, [mql(first)])
    await route(engine, roster, [mql(second)])
    rows = await handoffs_of(engine, [first, second])
    assert (rows[first].rep_id, rows[second].rep_id) == ("aiko", "kenji")


async def test_a_replayed_mql_gets_no_second_handoff_and_no_second_event(
    engine: AsyncEngine,
) -> None:
    roster = team(("aiko", True), ("kenji", True))
    lead = new_id()
    original = mql(lead)
    republished = original.model_copy(update={"id": new_id("evt")})
    await route(engine, roster, [original, republished])
    await route(engine, roster, [republished])

    rows = await handoffs_of(engine, [lead])
    assert rows[lead].rep_id == "aiko"
    events = await outbox_of(engine, [lead])
    assert len(events) == 1
    async with engine.connect() as conn:
        count = await conn.scalar(
            text("SELECT count(*) FROM routing.handoffs WHERE lead_id = :lead"), {"lead": lead}
        )
    assert count == 1


async def test_events_other_than_mqls_are_ignored(engine: AsyncEngine) -> None:
    lead = new_id()
    changed = scoring.LeadScoreChanged(
        id=new_id("evt"),
        subject=lead,
        data=scoring.ScoreChangedData(
            lead_id=lead, score=12, engagement_score=12, fit_score=0, at=T0
        ),
    )
    await route(engine, team(("aiko", True)), [changed])
    assert await handoffs_of(engine, [lead]) == {}
    assert await outbox_of(engine, [lead]) == []


async def test_a_lead_is_left_unassigned_and_announced_when_no_rep_is_active(
    engine: AsyncEngine,
) -> None:
    roster = team(("yui", False))
    lead = new_id()
    await route(engine, roster, [mql(lead)])

    row = (await handoffs_of(engine, [lead]))[lead]
    assert (row.state, row.rep_id, row.assigned_at) == ("unassigned", None, None)
    (event,) = await outbox_of(engine, [lead])
    assert isinstance(event, routing.LeadUnassigned)
    assert event.id == fact_id("unassigned", row.handoff_id)
    assert event.data.reason == f"no rep available in pool '{roster.default_pool}'"


async def test_the_assigned_rep_accepts_once_and_a_repeat_announces_nothing(
    engine: AsyncEngine,
) -> None:
    lead = new_id()
    event = mql(lead)
    roster = team(("aiko", True))
    await route(engine, roster, [event])
    handoff_id = handoff_id_for(event.data.mql_id)

    for _ in range(2):
        handoff = await act(engine, roster, RepAction(Action.ACCEPT, handoff_id, "aiko"))
        assert handoff.state is HandoffState.ACCEPTED

    row = (await handoffs_of(engine, [lead]))[lead]
    assert row.state == "accepted"
    _assigned, accepted = await outbox_of(engine, [lead])
    assert isinstance(accepted, routing.LeadAccepted)
    assert accepted.id == fact_id("accepted", handoff_id)
    assert (accepted.data.rep_id, accepted.data.handoff_id) == ("aiko", handoff_id)


async def test_a_rejection_is_stored_with_its_reason_and_announced(engine: AsyncEngine) -> None:
    lead = new_id()
    event = mql(lead)
    roster = team(("aiko", True))
    await route(engine, roster, [event])
    handoff_id = handoff_id_for(event.data.mql_id)

    await act(
        engine,
        roster,
        RepAction(Action.REJECT, handoff_id, "aiko", reason_code="no_budget", note="予算は来期"),
    )

    row = (await handoffs_of(engine, [lead]))[lead]
    assert (row.state, row.reason_code, row.note) == ("rejected", "no_budget", "予算は来期")
    assert (row.follow_up, row.recycle_until) == ("recycled", T0 + timedelta(days=90))
    _, rejected, recycled = await outbox_of(engine, [lead])
    assert isinstance(rejected, routing.LeadRejected)
    assert (rejected.data.reason_code, rejected.data.note) == ("no_budget", "予算は来期")
    assert isinstance(recycled, routing.LeadRecycled)
    assert recycled.data.until == T0 + timedelta(days=90)
