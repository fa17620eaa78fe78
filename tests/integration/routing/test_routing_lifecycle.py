"""Routing on real PostgreSQL and the real broker: reassignment on rejection and on SLA
escalation, the pools' queue, CRM commands, contact and disposition, and two consumers
assigning concurrently from one database."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from datetime import timedelta
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from handoff.db import UnitOfWorkFactory
from handoff.events import commands, dlq_topic, routing, scoring, sla
from handoff.events.envelope import fact_id
from handoff.messaging.consumer import BatchConsumer, Inbound
from handoff.messaging.producer import Message, Producer, make_producer
from handoff.settings import HandoffSettings
from handoff_routing.domain.handoff import Action, RepAction
from handoff_routing.domain.roster import Pool, Rep, Roster
from handoff_routing.service_layer import handlers
from handoff_routing.service_layer.handlers import RoutingHandler
from handoff_routing.service_layer.handoff_batch import handoff_id_for
from tests.factories import T0, mql, new_id
from tests.integration.kafka_helpers import eventually
from tests.integration.routing.test_routing_handler import (
    act,
    handoffs_of,
    outbox_of,
    route,
    routing_for,
    team,
)


async def first_handoff(engine: AsyncEngine, roster: Roster) -> tuple[str, str, str]:
    """A fresh MQL routed; returns (lead_id, handoff_id, rep_id)."""
    lead = new_id()
    event = mql(lead)
    await route(engine, roster, [event])
    handoff_id = handoff_id_for(event.data.mql_id)
    row = (await handoffs_of(engine, [lead]))[lead]
    return lead, handoff_id, row.rep_id


async def all_handoffs(engine: AsyncEngine, lead: str) -> list[Any]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT * FROM routing.handoffs WHERE lead_id = :lead ORDER BY attempt"),
            {"lead": lead},
        )
        return list(rows)


def escalation(lead: str, handoff_id: str, action: str = "reassign") -> sla.SlaEscalated:
    return sla.SlaEscalated(
        id=new_id("esc"),
        subject=lead,
        data=sla.EscalatedData(
            lead_id=lead,
            handoff_id=handoff_id,
            timer_id="t",
            policy="accept-within",
            stage="accept",
            due_at=T0,
            fired_at=T0,
            level=3,
            action=action,
        ),
    )


async def test_a_rejection_for_the_wrong_territory_goes_to_another_rep(engine: AsyncEngine) -> None:
    roster = team(("aiko", True), ("kenji", True))
    lead, handoff_id, rep = await first_handoff(engine, roster)
    assert rep == "aiko"

    await act(
        engine, roster, RepAction(Action.REJECT, handoff_id, "aiko", reason_code="wrong_territory")
    )

    first, second = await all_handoffs(engine, lead)
    assert (first.state, first.follow_up) == ("rejected", "reassigned")
    assert first.next_handoff_id == second.handoff_id == handoff_id_for(first.mql_id, 2)
    assert (second.state, second.rep_id, second.attempt) == ("assigned", "kenji", 2)
    assert second.excluded == ["aiko"]
    events = await outbox_of(engine, [lead])
    assert [type(e) for e in events] == [
        routing.LeadAssigned,
        routing.LeadRejected,
        routing.LeadReassigned,
        routing.LeadAssigned,
    ]
    rejected, reassigned, assigned = events[1], events[2], events[3]
    assert (rejected.data.reason_code, rejected.data.follow_up) == ("wrong_territory", "reassigned")
    # rep_id is the rep the lead went to; previous_rep_id the one it was taken from
    assert (reassigned.data.rep_id, reassigned.data.previous_rep_id) == ("kenji", "aiko")
    assert not reassigned.data.queued
    assert reassigned.data.new_handoff_id == second.handoff_id
    assert reassigned.data.reason == "rejected: wrong_territory"
    assert (assigned.data.rep_id, assigned.data.handoff_id) == ("kenji", second.handoff_id)
    assert assigned.data.manager_id == "boss"
    assert assigned.data.mql_trigger == "threshold"


async def test_a_rejection_with_nobody_else_leaves_the_lead_waiting(engine: AsyncEngine) -> None:
    roster = team(("aiko", True))
    lead, handoff_id, _ = await first_handoff(engine, roster)
    await act(
        engine, roster, RepAction(Action.REJECT, handoff_id, "aiko", reason_code="wrong_territory")
    )
    _, second = await all_handoffs(engine, lead)
    assert (second.state, second.rep_id) == ("unassigned", None)
    *_, reassigned, unassigned = await outbox_of(engine, [lead])
    assert isinstance(unassigned, routing.LeadUnassigned)
    # Nobody to hand it to: queued, and rep_id (required in v1) still names the last rep.
    assert isinstance(reassigned, routing.LeadReassigned)
    assert reassigned.data.queued and reassigned.data.new_handoff_id == second.handoff_id
    assert (reassigned.data.rep_id, reassigned.data.previous_rep_id) == ("aiko", "aiko")


async def test_a_do_not_call_rejection_says_the_lead_is_disqualified(engine: AsyncEngine) -> None:
    roster = team(("aiko", True), ("kenji", True))
    lead, handoff_id, _ = await first_handoff(engine, roster)
    await act(
        engine, roster, RepAction(Action.REJECT, handoff_id, "aiko", reason_code="do_not_call")
    )
    (only,) = await all_handoffs(engine, lead)
    assert (only.state, only.follow_up) == ("rejected", "disqualified")
    _, rejected = await outbox_of(engine, [lead])
    assert isinstance(rejected, routing.LeadRejected)
    # scoring reads this to close the lead's MQL cycle (tests/integration/scoring/test_scoring_handler)
    assert (rejected.data.reason_code, rejected.data.follow_up) == ("do_not_call", "disqualified")


async def test_an_sla_escalation_reassigns_an_unaccepted_lead_once(engine: AsyncEngine) -> None:
    roster = team(("aiko", True), ("kenji", True))
    routing_ = routing_for(roster)
    lead, handoff_id, _ = await first_handoff(engine, roster)
    escalated = escalation(lead, handoff_id)
    reminder = escalation(lead, handoff_id, action="remind")
    await route(engine, routing_, [reminder, escalated])

    first, second = await all_handoffs(engine, lead)
    assert (first.state, second.state, second.rep_id) == ("reassigned", "assigned", "kenji")
    reassigned = (await outbox_of(engine, [lead]))[1]
    assert isinstance(reassigned, routing.LeadReassigned)
    assert reassigned.id == fact_id("reassigned", handoff_id)
    assert reassigned.data.reason == "sla escalation level 3"
    assert (reassigned.data.rep_id, reassigned.data.previous_rep_id) == ("kenji", "aiko")


async def test_an_escalation_after_the_accept_changes_nothing(engine: AsyncEngine) -> None:
    roster = team(("aiko", True), ("kenji", True))
    lead, handoff_id, _ = await first_handoff(engine, roster)
    await act(engine, roster, RepAction(Action.ACCEPT, handoff_id, "aiko"))
    await route(engine, roster, [escalation(lead, handoff_id)])
    (only,) = await all_handoffs(engine, lead)
    assert only.state == "accepted"


async def test_a_queued_lead_is_assigned_in_order_once_the_rep_has_room(
    engine: AsyncEngine,
) -> None:
    aiko = new_id("aiko")  # loads are counted per rep over the shared database
    roster = team((aiko, True), max_open=1)
    routing_ = routing_for(roster)
    leads = [new_id() for _ in range(3)]
    events = [mql(lead) for lead in leads]
    await route(engine, routing_, events)
    rows = await handoffs_of(engine, leads)
    assert [rows[lead].state for lead in leads] == ["assigned", "unassigned", "unassigned"]
    waiting = (await outbox_of(engine, [leads[1]]))[0]
    assert isinstance(waiting, routing.LeadUnassigned)
    assert "at capacity (1 open, max 1)" in str(waiting.data.decision)

    first = handoff_id_for(events[0].data.mql_id)
    await act(engine, routing_, RepAction(Action.ACCEPT, first, aiko))
    async with UnitOfWorkFactory(engine)() as uow:
        assert await handlers.sweep_queue(uow, routing_) == 1
        await uow.commit()
    rows = await handoffs_of(engine, leads)
    assert [rows[lead].state for lead in leads] == ["accepted", "assigned", "unassigned"]
    assigned = (await outbox_of(engine, [leads[1]]))[-1]
    assert isinstance(assigned, routing.LeadAssigned)
    assert assigned.data.decision[-2].rule == "queue"


async def test_crm_commands_are_applied_like_api_calls_and_bad_ones_are_refused(
    engine: AsyncEngine,
) -> None:
    roster = team(("aiko", True))
    lead, handoff_id, _ = await first_handoff(engine, roster)

    def command(cls: Any, data: Any) -> Any:
        return cls(id=new_id("cmd"), source="/crm/salesforce", subject=lead, data=data)

    batch = [
        command(commands.AcceptCommand, commands.RepActionData(handoff_id="nope", rep_id="aiko")),
        command(commands.AcceptCommand, commands.RepActionData(handoff_id=handoff_id, rep_id="x")),
        command(
            commands.AcceptCommand, commands.RepActionData(handoff_id=handoff_id, rep_id="aiko")
        ),
        command(
            commands.ContactCommand,
            commands.ContactData(handoff_id=handoff_id, rep_id="aiko", channel="phone"),
        ),
        command(
            commands.DispositionCommand,
            commands.DispositionData(
                handoff_id=handoff_id, rep_id="aiko", outcome="recycle", recycle_after_days=60
            ),
        ),
    ]
    await route(engine, roster, batch)

    (row,) = await all_handoffs(engine, lead)
    assert (row.state, row.outcome, row.channel) == ("dispositioned", "recycle", "phone")
    events = await outbox_of(engine, [lead])
    assert [type(e) for e in events] == [
        routing.LeadAssigned,
        routing.LeadAccepted,
        routing.LeadContacted,
        routing.LeadDispositioned,
        routing.LeadRecycled,
    ]
    assert events[-1].data.until == T0 + timedelta(days=60)


async def test_two_consumers_on_one_database_never_give_out_the_same_turn(
    engine: AsyncEngine, bootstrap: str, database_url: str
) -> None:
    weights = {"aiko": 1, "kenji": 2, "emma": 3, "dan": 4}
    pool = f"pool-{uuid.uuid4().hex[:8]}"
    roster = Roster(
        reps={r: Rep(r, r, f"{r}@example.com", "t", weight=w) for r, w in weights.items()},
        pools={pool: Pool(pool, tuple(weights))},
        default_pool=pool,
    )
    per_topic = 500
    topics = [f"test-mql-{uuid.uuid4().hex[:8]}" for _ in range(2)]
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics(
            [NewTopic(t, 2, 1) for t in topics] + [NewTopic(dlq_topic(t), 1, 1) for t in topics]
        )
    finally:
        await admin.close()
    settings = HandoffSettings(
        kafka_bootstrap_servers=bootstrap,
        database_url=database_url,
        consumer_batch_max=25,  # many small batches, so the two really interleave
        kafka_session_timeout_ms=6000,
    )
    kafka = make_producer(settings, "test-two-consumers")
    await kafka.start()
    producer = Producer(kafka)
    leads = {t: [new_id("C") for _ in range(per_topic)] for t in topics}
    await producer.send_all([Message.of(t, mql(lead)) for t in topics for lead in leads[t]])
    applied: Counter[str] = Counter()

    class Counting(RoutingHandler):
        def __init__(self, name: str) -> None:
            super().__init__(routing_for(roster))
            self.name = name

        async def __call__(self, uow: Any, items: list[Inbound[Any]]) -> None:
            await super().__call__(uow, items)
            applied[self.name] += len(items)

    consumers = [
        BatchConsumer(
            name=f"test-{new_id('routing')}",
            schema="routing",
            adapters={topic: scoring.scoring_event_adapter},
            handler=Counting(topic),
            uow_factory=UnitOfWorkFactory(engine),
            producer=producer,
            settings=settings,
        )
        for topic in topics
    ]
    tasks = [asyncio.create_task(c.run()) for c in consumers]
    try:
        assert await eventually(lambda: _done(applied, 2 * per_topic), within=60)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await kafka.stop()
        await _never_publish(engine, [lead for t in topics for lead in leads[t]])

    assert all(applied[t] > 0 for t in topics), "both consumers assigned leads"
    everyone = [lead for t in topics for lead in leads[t]]
    rows = await handoffs_of(engine, everyone)
    assert len(rows) == len(everyone), "every MQL has its handoff"
    async with engine.connect() as conn:
        handoffs = await conn.scalar(
            text("SELECT count(*) FROM routing.handoffs WHERE pool = :pool"), {"pool": pool}
        )
    assert handoffs == len(everyone), "no MQL was assigned twice"
    # 1000 leads are exactly 100 turns of a wheel of 10 slots: any slot given twice (or
    # skipped) would show in these counts.
    counts = Counter(row.rep_id for row in rows.values())
    assert counts == {r: 100 * w for r, w in weights.items()}


async def _never_publish(engine: AsyncEngine, leads: list[str]) -> None:
    """A thousand assignments nobody accepts would breach the e2e SLA watcher's overdue list."""
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE routing.outbox SET published_at = now() "
                "WHERE key = ANY(CAST(:keys AS bytea[])) AND published_at IS NULL"
            ),
            {"keys": [lead.encode() for lead in leads]},
        )


async def _done(applied: Counter[str], total: int) -> bool:
    return sum(applied.values()) >= total
