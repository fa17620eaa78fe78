"""Apply a batch of signals and routing outcomes: load the batch's leads once, apply in
occurred_at order, save once, and put MQL, disqualified and score_changed events in the outbox."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import structlog
from prometheus_client import Counter

from handoff.db import UnitOfWork
from handoff.events import routing
from handoff.events import scoring as ev
from handoff.events.envelope import fact_id
from handoff.events.signals import ActivitySignal, AliasSignal, IdentifySignal, Traits
from handoff.messaging import outbox
from handoff.messaging.consumer import Inbound
from handoff.messaging.producer import Message
from handoff_scoring.adapters import repository
from handoff_scoring.adapters.tables import SCHEMA
from handoff_scoring.domain import engine
from handoff_scoring.domain.engine import Disqualified, Outcome, Qualified, Score
from handoff_scoring.domain.erasure import signal_predates_erasure, with_alias
from handoff_scoring.domain.explain import contributions, reason
from handoff_scoring.domain.lead import Lead, instant, seconds
from handoff_scoring.domain.model import KEPT_PROPERTIES, Props, ScoringModel

log = structlog.get_logger("handoff.scoring")
SALES_OUTCOMES = (routing.LeadRecycled, routing.LeadDispositioned, routing.LeadRejected)
_SALES_TYPES = frozenset(SALES_OUTCOMES)
_LAST = datetime.max.replace(tzinfo=UTC)
FUTURE_DROPPED = Counter(
    "handoff_scoring_future_signals_dropped_total",
    "Signals dated further ahead than HANDOFF_SIGNAL_MAX_FUTURE_SECONDS, dropped by the consumer",
)


def mql_id(lead_id: str, cycle: int) -> str:
    return fact_id("mql", lead_id, str(cycle))


def attribution(lead: Lead, at: float) -> tuple[list[str], list[str]]:
    """Distinct sources and campaigns of this cycle's signals up to `at`, ordered by their
    latest signal, so the last of each list is the last touch."""
    sources: dict[str, None] = {}
    campaigns: dict[str, None] = {}
    opens = lead.opens_at
    for when, _, props in lead.history:
        if when > at or props is None or (opens is not None and when < opens):
            continue
        if "source" in props:
            sources.pop(props["source"], None)
            sources[props["source"]] = None
        if "campaign" in props:
            campaigns.pop(props["campaign"], None)
            campaigns[props["campaign"]] = None
    return list(sources), list(campaigns)


def _latest(values: list[str]) -> str | None:
    return values[-1] if values else None


def mql_event(model: ScoringModel, lead: Lead, q: Qualified) -> ev.LeadMql:
    the_id = mql_id(q.lead_id, q.cycle)
    sources, campaigns = attribution(lead, q.at)
    top = contributions(model, lead, q.at, limit=5)
    label = model.trigger_labels.get(q.rule) if q.kind != "threshold" else None
    return ev.LeadMql(
        id=the_id,
        subject=q.lead_id,
        time=instant(q.at),
        data=ev.MqlData(
            lead_id=q.lead_id,
            mql_id=the_id,
            cycle=q.cycle,
            score=q.engagement + q.fit.points,
            engagement_score=q.engagement,
            fit_score=q.fit.points,
            fit_grade=q.fit.grade,
            model_version=model.version,
            trigger=ev.Trigger(kind=q.kind, rule=q.rule),
            reason=reason(model, lead, q.at, top, label, q.rule),
            contributions=[
                ev.Contribution(
                    activity_type=c.activity_type,
                    count=c.count,
                    points=c.points,
                    last_seen=instant(c.last_seen),
                    rule=c.rule,
                )
                for c in top
            ],
            qualified_at=instant(q.at),
            traits=Traits.model_validate(lead.traits) if lead.traits else None,
            source=_latest(sources),
            campaign=_latest(campaigns),
            sources=sources,
            campaigns=campaigns,
        ),
    )


def disqualified_event(model: ScoringModel, d: Disqualified) -> ev.LeadDisqualified:
    return ev.LeadDisqualified(
        id=fact_id("disqualified", d.lead_id, str(d.cycle), d.reason),
        subject=d.lead_id,
        time=instant(d.at),
        data=ev.DisqualifiedData(
            lead_id=d.lead_id,
            reason=f"Disqualified: {d.reason.replace('_', ' ')} (rule {d.rule}).",
            reason_code=d.reason,
            rule=d.rule,
            cycle=d.cycle,
            model_version=model.version,
            at=instant(d.at),
        ),
    )


def score_changed_event(
    model: ScoringModel, lead_id: str, score: Score, previous: int | None
) -> ev.LeadScoreChanged:
    assert score.at is not None
    return ev.LeadScoreChanged(
        id=fact_id("score_changed", lead_id, repr(score.at), str(score.total)),
        subject=lead_id,
        time=instant(score.at),
        data=ev.ScoreChangedData(
            lead_id=lead_id,
            score=score.total,
            engagement_score=score.engagement,
            fit_score=score.fit.points,
            fit_grade=score.fit.grade,
            previous_score=previous,
            model_version=model.version,
            at=instant(score.at),
        ),
    )


def _traits(traits: Traits | None) -> dict[str, Any]:
    return traits.model_dump(exclude_none=True) if traits is not None else {}


def kept(properties: dict[str, Any], source: str) -> Props | None:
    """The properties rules can test, as text; the rest are not kept in the history."""
    props = {k: str(properties[k]) for k in KEPT_PROPERTIES if properties.get(k) is not None}
    if source != "api":
        props["source"] = source
    return props or None


def _order(item: Inbound[Any]) -> datetime:
    at: datetime | None = getattr(item.event.data, "occurred_at", None)
    return at if at is not None else _LAST


class SignalHandler:
    """The scoring consumer's batch handler: signals, and routing's recycles, dispositions and
    rejections."""

    def __init__(self, model: ScoringModel, max_future_seconds: float | None = None) -> None:
        # The service passes HANDOFF_SIGNAL_MAX_FUTURE_SECONDS; None (no bound) is for tools
        # and tests that apply a fixed history whose dates may lie ahead of today.
        self.model = model
        self.max_future_seconds = max_future_seconds

    def _in_time(self, item: Inbound[Any]) -> bool:
        """False for an activity or identify dated past now + the bound: applied, it would
        future-date the score and skip a recycle period. The API refuses these (422) and the
        webhooks drop them; one produced straight to the topic is dropped and counted here."""
        at: datetime | None = getattr(item.event.data, "occurred_at", None)
        if at is None or self.max_future_seconds is None or type(item.event) is AliasSignal:
            return True
        if at.timestamp() <= time.time() + self.max_future_seconds:
            return True
        FUTURE_DROPPED.inc()
        log.warning(
            "scoring.signal.future_dropped",
            topic=item.topic,
            partition=item.partition,
            offset=item.offset,
            max_future_seconds=self.max_future_seconds,
        )
        return False

    async def __call__(self, uow: UnitOfWork, items: list[Inbound[Any]]) -> None:
        model = self.model
        # Exact types, not isinstance: events are pydantic models, whose isinstance is slow.
        outcomes_of_sales: list[Inbound[Any]] = []
        signals: list[Inbound[Any]] = []
        for i in items:
            if type(i.event) in _SALES_TYPES:
                outcomes_of_sales.append(i)
            elif self._in_time(i):
                signals.append(i)
        # Time order inside the batch (stable for ties) spares late-event replays; the result
        # is the same in any order. Aliases without a time apply after the batch's activity.
        signals.sort(key=_order)
        wanted = {i.event.data.lead_id for i in items}
        wanted.update(i.event.data.previous_id for i in signals if type(i.event) is AliasSignal)
        leads = await repository.load(uow.conn, wanted)
        touched: dict[str, Lead] = {}
        merged_away: set[str] = set()
        events: list[ev.LeadMql | ev.LeadDisqualified | ev.LeadScoreChanged] = []
        new_mqls: dict[str, str] = {}

        def lead_of(lead_id: str) -> Lead:
            lead = leads.get(lead_id)
            if lead is None:
                lead = leads[lead_id] = Lead(lead_id)
            touched[lead_id] = lead
            merged_away.discard(lead_id)
            return lead

        def predates_erasure(item: Inbound[Any]) -> bool:
            lead_id = item.event.data.lead_id
            if not signal_predates_erasure(leads.get(lead_id), item.event.time):
                return False
            log.info("scoring.signal.erased_before", lead_id=lead_id, event_id=item.event.id,
                     topic=item.topic, partition=item.partition, offset=item.offset)  # fmt: skip
            return True

        # Sales' outcomes first: a recycle opens the next cycle for this batch's later signals.
        for item in outcomes_of_sales:
            event = item.event
            if type(event) is routing.LeadRejected and event.data.follow_up != "disqualified":
                continue  # reassigned: the cycle goes on; recycled: its own event follows
            if predates_erasure(item):
                continue
            lead = lead_of(event.data.lead_id)
            if isinstance(event, routing.LeadRecycled):
                until = event.data.until
                if until.tzinfo is None:
                    until = until.replace(tzinfo=UTC)
                if engine.recycle(lead, seconds(until)):
                    log.info("scoring.cycle.recycled", lead_id=lead.lead_id, event_id=event.id,
                             cycle=lead.cycle)  # fmt: skip
            elif isinstance(event, routing.LeadDispositioned):
                engine.disposition(model, lead, event.data.outcome, seconds(event.data.at))
            else:
                # A rejection whose reason disqualifies (do_not_call, duplicate, ...) ends the
                # cycle as a disqualified disposition does.
                engine.disposition(model, lead, "disqualified", seconds(event.data.at))

        for item in signals:
            event = item.event
            lead_id = event.data.lead_id
            if predates_erasure(item):
                continue
            lead = lead_of(lead_id)
            outcomes: list[Outcome]
            if type(event) is ActivitySignal:
                data = event.data
                at = seconds(data.occurred_at)
                outcomes = []
                if data.traits is not None:
                    outcomes += engine.apply_identify(model, lead, _traits(data.traits), at)
                outcomes += engine.apply_activity(
                    model, lead, at, data.activity_type, kept(data.properties, data.source)
                )
            elif type(event) is IdentifySignal:
                outcomes = engine.apply_identify(
                    model, lead, _traits(event.data.traits), seconds(event.data.occurred_at)
                )
            elif type(event) is AliasSignal:
                previous = event.data.previous_id
                anonymous = leads.pop(previous, None) if previous != lead_id else None
                touched.pop(previous, None)
                if previous != lead_id:
                    with_alias(lead, previous, anonymous)
                if anonymous is None:
                    continue
                merged_away.add(previous)
                outcomes = engine.merge_alias(model, lead, anonymous)
            else:
                continue
            for outcome in outcomes:
                if isinstance(outcome, Qualified):
                    mql = mql_event(model, lead, outcome)
                    events.append(mql)
                    new_mqls[lead_id] = mql.data.mql_id
                    log.info(
                        "scoring.mql",
                        lead_id=lead_id,
                        event_id=event.id,
                        mql_id=mql.data.mql_id,
                        trigger=f"{outcome.kind}:{outcome.rule}",
                        score=mql.data.score,
                        topic=item.topic,
                        partition=item.partition,
                        offset=item.offset,
                    )
                else:
                    events.append(disqualified_event(model, outcome))
                    log.info(
                        "scoring.disqualified",
                        lead_id=lead_id,
                        event_id=event.id,
                        reason=outcome.reason,
                        topic=item.topic,
                        partition=item.partition,
                        offset=item.offset,
                    )

        rows = []
        for lead_id, lead in touched.items():
            if lead_id in merged_away:
                continue
            before = lead.emitted[1] if lead.emitted is not None else None
            changed = engine.score_change_due(model, lead)
            if changed is not None:
                events.append(score_changed_event(model, lead_id, changed, before))
            score = changed or engine.score_at(model, lead)
            rows.append(
                repository.Row(
                    lead,
                    score.total,
                    score.fit.grade,
                    new_mqls.get(lead_id),
                    None if score.at is None else instant(score.at),
                )
            )
        await repository.save(uow.conn, rows, model.version)
        await repository.delete(uow.conn, merged_away)
        await outbox.append(uow.conn, SCHEMA, [Message.of(ev.TOPIC, e) for e in events])
