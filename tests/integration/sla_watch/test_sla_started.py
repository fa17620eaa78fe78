"""handoff.sla.started on real PostgreSQL: each arming of a timer is announced once, from
sla-watch's outbox in the timer's transaction, with the due time and the warning point."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from handoff.db import UnitOfWorkFactory
from handoff.events import routing, sla
from handoff.messaging.consumer import Inbound
from handoff_sla_watch.domain.model import Policy
from handoff_sla_watch.service_layer.timers import TimerHandler, timer_id
from tests.factories import new_id
from tests.integration.sla_watch.test_sla_timers import ACCEPT, accepted, assigned, sla_events


class InPool:
    """A policy condition: the handoff is in this pool."""

    def __init__(self, pool: str) -> None:
        self.pool = pool

    def holds(self, context: Mapping[str, object]) -> bool:
        return context.get("pool") == self.pool


WARNED = Policy(
    name="accept-warned",
    stage="accept",
    starts_on="handoff.lead.assigned",
    stops_on=frozenset({"handoff.lead.accepted"}),
    within=timedelta(minutes=20),
    warn_at=0.75,
)


async def apply(engine: AsyncEngine, policy: Policy, events: list[routing.RoutingEvent]) -> None:
    items = [Inbound(e, routing.TOPIC, 0, n) for n, e in enumerate(events)]
    async with UnitOfWorkFactory(engine)() as uow:
        await TimerHandler([policy])(uow, items)
        await uow.commit()


async def test_arming_a_timer_announces_its_due_time_and_warning_point_once(
    engine: AsyncEngine,
) -> None:
    lead, handoff = new_id(), new_id("H")
    now = datetime.now(UTC)
    first = assigned(lead, handoff, at=now)
    await apply(engine, WARNED, [first])
    await apply(engine, WARNED, [first])  # a replay arms nothing and announces nothing
    (started,) = await sla_events(engine, lead, started=True)
    assert isinstance(started, sla.SlaStarted)
    assert started.subject == lead
    d = started.data
    assert (d.handoff_id, d.timer_id, d.policy, d.stage, d.rep_id) == (
        handoff,
        timer_id(handoff, "accept"),
        "accept-warned",
        "accept",
        "rep-1",
    )
    assert (d.started_at, d.due_at, d.warn_at) == (
        now,
        now + timedelta(minutes=20),
        now + timedelta(minutes=15),
    )


async def test_a_timer_armed_and_met_in_one_batch_is_announced_before_it_is_met(
    engine: AsyncEngine,
) -> None:
    lead, handoff = new_id(), new_id("H")
    now = datetime.now(UTC)
    await apply(
        engine,
        ACCEPT,
        [assigned(lead, handoff, at=now), accepted(lead, handoff, at=now + timedelta(minutes=1))],
    )
    events = await sla_events(engine, lead, started=True)
    assert [e.type for e in events] == ["handoff.sla.started", "handoff.sla.met"]
    assert events[0].data.warn_at is None  # this policy has no warning


async def test_no_policy_applies_nothing_is_announced(engine: AsyncEngine) -> None:
    lead, handoff = new_id(), new_id("H")
    only_apac = Policy(
        name="accept-apac",
        stage="accept",
        starts_on="handoff.lead.assigned",
        stops_on=frozenset({"handoff.lead.accepted"}),
        within=timedelta(hours=1),
        when=InPool("apac"),
    )
    await apply(engine, only_apac, [assigned(lead, handoff, at=datetime.now(UTC))])
    assert await sla_events(engine, lead, started=True) == []
