"""Apply a batch of signals: load the batch's leads once, score in order, save once, outbox the MQLs."""

from __future__ import annotations

from typing import Any

import structlog

from handoff.db import UnitOfWork
from handoff.events import scoring as ev
from handoff.events.envelope import fact_id
from handoff.events.signals import ActivitySignal, AliasSignal, IdentifySignal, Signal, Traits
from handoff.messaging import outbox
from handoff.messaging.consumer import Inbound
from handoff.messaging.producer import Message
from handoff_scoring.adapters import repository
from handoff_scoring.adapters.tables import SCHEMA
from handoff_scoring.domain.model import (
    Activity,
    LeadScore,
    Qualified,
    ScoringModel,
    apply_activity,
    apply_identify,
    merge_alias,
)

log = structlog.get_logger("handoff.scoring")


def mql_event(q: Qualified) -> ev.LeadMql:
    mql_id = fact_id("mql", q.lead_id, str(q.cycle))
    return ev.LeadMql(
        id=mql_id,
        subject=q.lead_id,
        time=q.qualified_at,
        data=ev.MqlData(
            lead_id=q.lead_id,
            mql_id=mql_id,
            cycle=q.cycle,
            score=q.score,
            engagement_score=q.score,
            fit_score=0,
            model_version=q.model_version,
            trigger=ev.Trigger(kind="threshold", rule=q.rule),
            reason=q.reason,
            contributions=[
                ev.Contribution(
                    activity_type=c.activity_type,
                    count=c.count,
                    points=c.points,
                    last_seen=c.last_seen,
                )
                for c in q.contributions
            ],
            qualified_at=q.qualified_at,
            traits=Traits.model_validate(q.traits) if q.traits else None,
        ),
    )


def _traits(traits: Traits | None) -> dict[str, Any]:
    return traits.model_dump(exclude_none=True) if traits is not None else {}


class SignalHandler:
    """The scoring consumer's batch handler."""

    def __init__(self, model: ScoringModel) -> None:
        self.model = model

    async def __call__(self, uow: UnitOfWork, items: list[Inbound[Signal]]) -> None:
        wanted: set[str] = set()
        for item in items:
            wanted.add(item.event.data.lead_id)
            if isinstance(item.event, AliasSignal):
                wanted.add(item.event.data.previous_id)
        leads = await repository.load(uow.conn, wanted)
        touched: set[str] = set()
        merged_away: set[str] = set()
        mqls: list[Qualified] = []
        for item in items:
            event = item.event
            lead_id = event.data.lead_id
            lead = leads.get(lead_id)
            if lead is None:
                lead = leads[lead_id] = LeadScore(lead_id)
            touched.add(lead_id)
            qualified: Qualified | None = None
            if isinstance(event, ActivitySignal):
                data = event.data
                if data.traits is not None:
                    apply_identify(lead, _traits(data.traits))
                qualified = apply_activity(
                    lead, Activity(lead_id, data.activity_type, data.occurred_at), self.model
                )
            elif isinstance(event, IdentifySignal):
                apply_identify(lead, _traits(event.data.traits))
            elif isinstance(event, AliasSignal):
                anonymous = leads.pop(event.data.previous_id, None)
                if anonymous is not None and event.data.previous_id != lead_id:
                    merged_away.add(anonymous.lead_id)
                    touched.discard(anonymous.lead_id)
                    qualified = merge_alias(lead, anonymous, self.model)
            if qualified is not None:
                mqls.append(qualified)
                log.info(
                    "scoring.mql",
                    lead_id=lead_id,
                    event_id=event.id,
                    score=qualified.score,
                    topic=item.topic,
                    partition=item.partition,
                    offset=item.offset,
                )
        events = [mql_event(q) for q in mqls]
        await repository.save(
            uow.conn,
            (leads[i] for i in touched if i in leads),
            {e.data.lead_id: e.data.mql_id for e in events},
            self.model.version,
        )
        await repository.delete(uow.conn, merged_away)
        await outbox.append(uow.conn, SCHEMA, [Message.of(ev.TOPIC, e) for e in events])
