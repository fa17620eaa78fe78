"""Apply a batch of signals and routing outcomes: route each event to its kind, load the
batch's leads once (their running state; the activities of the few that need them), apply in
occurred_at order, save once, and put the MQL, disqualified and score_changed events in the
outbox."""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import structlog

from handoff.db import UnitOfWork
from handoff.events import routing
from handoff.events.signals import ActivitySignal, AliasSignal, IdentifySignal, Traits
from handoff.messaging import outbox
from handoff.messaging.consumer import Inbound
from handoff_scoring.adapters import events_out, leads
from handoff_scoring.adapters.metrics import FUTURE_DROPPED
from handoff_scoring.adapters.tables import SCHEMA
from handoff_scoring.domain import lifecycle
from handoff_scoring.domain.engagement import score_at, score_change_due
from handoff_scoring.domain.erasure import signal_predates_erasure, with_alias
from handoff_scoring.domain.lead import HistoryNeeded, Lead, epoch_seconds, utc_datetime
from handoff_scoring.domain.lifecycle import Outcome
from handoff_scoring.domain.model import ScoringModel, history_properties
from handoff_scoring.domain.triggers import Qualified

log = structlog.get_logger("handoff.scoring")

Signal = ActivitySignal | IdentifySignal | AliasSignal
# The routing events scoring acts on: they open and close MQL cycles.
SalesOutcome = routing.LeadRecycled | routing.LeadDispositioned | routing.LeadRejected
ScoringInput = Signal | SalesOutcome
SALES_OUTCOMES = (routing.LeadRecycled, routing.LeadDispositioned, routing.LeadRejected)
_SALES_TYPES = frozenset(SALES_OUTCOMES)
_LAST = datetime.max.replace(tzinfo=UTC)


def as_it_stands(lead: Lead) -> Lead:
    """A copy of the lead's explainable parts now: its traits (a later identify in the batch
    must not change what this MQL said) and the activities this batch added so far."""
    return replace(
        lead,
        history=list(lead.history),
        traits=copy.deepcopy(lead.traits),
        aliases=[],
        saved=0,
        history_replaced=False,
    )


def _trait_dict(traits: Traits | None) -> dict[str, Any]:
    return traits.model_dump(exclude_none=True) if traits is not None else {}


def _occurred_at(item: Inbound[Signal]) -> datetime:
    at: datetime | None = getattr(item.event.data, "occurred_at", None)
    return at if at is not None else _LAST


@dataclass(frozen=True, slots=True)
class PendingMql:
    """An MQL of a lead whose history was not loaded: its explanation (contributions, reason,
    attribution) is worked out once the batch is applied and the history read. `lead` is the
    lead as it stood at the MQL: its traits then, and the activities this batch added so far."""

    outcome: Qualified
    lead: Lead


@dataclass(slots=True)
class Batch:
    """One batch's working state: the leads loaded, those it changed or merged away, and the
    events it will put in the outbox."""

    leads: dict[str, Lead]
    touched: dict[str, Lead] = field(default_factory=dict)
    merged_away: set[str] = field(default_factory=set)
    events: list[events_out.ScoringEvent | PendingMql] = field(default_factory=list)
    new_mqls: dict[str, str] = field(default_factory=dict)

    def lead_of(self, lead_id: str) -> Lead:
        lead = self.leads.get(lead_id)
        if lead is None:
            lead = self.leads[lead_id] = Lead(lead_id)
        self.touched[lead_id] = lead
        self.merged_away.discard(lead_id)
        return lead

    def predates_erasure(self, item: Inbound[Signal] | Inbound[SalesOutcome]) -> bool:
        lead_id = item.event.data.lead_id
        if not signal_predates_erasure(self.leads.get(lead_id), item.event.time):
            return False
        log.info("scoring.signal.erased_before", lead_id=lead_id, event_id=item.event.id,
                 topic=item.topic, partition=item.partition, offset=item.offset)  # fmt: skip
        return True


class SignalHandler:
    """The scoring consumer's batch handler: signals, and routing's recycles, dispositions and
    rejections."""

    def __init__(self, model: ScoringModel, max_future_seconds: float | None = None) -> None:
        # The service passes HANDOFF_SIGNAL_MAX_FUTURE_SECONDS; None (no bound) is for tools
        # and tests that apply a fixed history whose dates may lie ahead of today.
        self.model = model
        self.max_future_seconds = max_future_seconds

    async def __call__(self, uow: UnitOfWork, items: list[Inbound[ScoringInput]]) -> None:
        sales, signals = self.route(items)
        wanted = {i.event.data.lead_id for i in items}
        wanted.update(i.event.data.previous_id for i in signals if type(i.event) is AliasSignal)
        try:
            batch = await self.apply(uow, wanted, sales, signals, whole_histories=False)
        except HistoryNeeded as exc:
            # needs_history missed a case: nothing is written yet, so the batch is applied
            # again from the stored leads with their whole histories, not dead-lettered.
            log.warning("scoring.history.unforeseen", error=str(exc), events=len(items))
            batch = await self.apply(uow, wanted, sales, signals, whole_histories=True)
        await self.persist(uow, batch)

    async def apply(
        self,
        uow: UnitOfWork,
        wanted: set[str],
        sales: list[Inbound[SalesOutcome]],
        signals: list[Inbound[Signal]],
        whole_histories: bool,
    ) -> Batch:
        """Load the batch's leads (the histories of those that need them, or of all) and apply
        its events in memory; nothing is written."""
        batch = Batch(await leads.load(uow.conn, wanted))
        needing = (
            list(batch.leads.values())
            if whole_histories
            else self.needing_history(batch, sales, signals)
        )
        await leads.complete(uow.conn, needing)
        for lead in needing:  # the stored log may run past the retention; the model's is used
            lifecycle.prune(self.model, lead)
        # Sales' outcomes first: a recycle opens the next cycle for this batch's later signals.
        for outcome in sales:
            self.apply_sales_outcome(batch, outcome)
        for signal in signals:
            self.apply_signal(batch, signal)
        await self.explain_pending(uow, batch)
        return batch

    def needing_history(
        self,
        batch: Batch,
        sales: list[Inbound[SalesOutcome]],
        signals: list[Inbound[Signal]],
    ) -> list[Lead]:
        """The loaded leads this batch needs the whole history of (lifecycle.needs_history):
        nearly always none, so nearly every batch reads no activities at all."""
        arrivals: dict[str, lifecycle.Arrival] = {}

        def arrival(lead_id: str) -> lifecycle.Arrival:
            found = arrivals.get(lead_id)
            if found is None:
                found = arrivals[lead_id] = lifecycle.Arrival([])
            return found

        for outcome in sales:
            arrival(outcome.event.data.lead_id).sales = True
        for signal in signals:
            event = signal.event
            if type(event) is ActivitySignal:
                data = event.data
                arrival(data.lead_id).activities.append(
                    (epoch_seconds(data.occurred_at), data.activity_type)
                )
            elif type(event) is AliasSignal:
                arrival(event.data.lead_id).merges = True
                arrival(event.data.previous_id).merges = True
        model = self.model
        return [
            lead
            for lead_id, lead in batch.leads.items()
            if lead_id in arrivals and lifecycle.needs_history(model, lead, arrivals[lead_id])
        ]

    # --- route ----------------------------------------------------------------------------

    def route(
        self, items: list[Inbound[ScoringInput]]
    ) -> tuple[list[Inbound[SalesOutcome]], list[Inbound[Signal]]]:
        """Sales' outcomes apart from signals; signals dated too far ahead dropped; signals in
        time order (stable for ties), which spares late-event replays (the result is the same
        in any order). Aliases without a time apply after the batch's activity."""
        # The exact-type test tells mypy nothing, so the lists are typed by what routed them.
        sales: list[Inbound[Any]] = []
        signals: list[Inbound[Any]] = []
        # Exact types, not isinstance: events are pydantic models, whose isinstance is slow.
        for i in items:
            if type(i.event) in _SALES_TYPES:
                sales.append(i)
            elif self._within_future_bound(i):
                signals.append(i)
        signals.sort(key=_occurred_at)
        return sales, signals

    def _within_future_bound(self, item: Inbound[ScoringInput]) -> bool:
        """False for an activity or identify dated past now + the bound: applied, it would
        future-date the score and skip a recycle period. Ingress refuses these (422 from the
        API, dropped by the webhooks); one produced straight to the topic is dropped and
        counted here."""
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

    # --- apply ----------------------------------------------------------------------------

    def apply_sales_outcome(self, batch: Batch, item: Inbound[SalesOutcome]) -> None:
        event = item.event
        if type(event) is routing.LeadRejected and event.data.follow_up != "disqualified":
            return  # reassigned: the cycle goes on; recycled: its own event follows
        if batch.predates_erasure(item):
            return
        lead = batch.lead_of(event.data.lead_id)
        if isinstance(event, routing.LeadRecycled):
            until = event.data.until
            if until.tzinfo is None:
                until = until.replace(tzinfo=UTC)
            if lifecycle.recycle(lead, epoch_seconds(until)):
                log.info("scoring.cycle.recycled", lead_id=lead.lead_id, event_id=event.id,
                         cycle=lead.cycle)  # fmt: skip
        elif isinstance(event, routing.LeadDispositioned):
            lifecycle.disposition(
                self.model, lead, event.data.outcome, epoch_seconds(event.data.at)
            )
        else:
            # A rejection whose reason disqualifies (do_not_call, duplicate, ...) ends the
            # cycle as a disqualified disposition does.
            lifecycle.disposition(self.model, lead, "disqualified", epoch_seconds(event.data.at))

    def apply_signal(self, batch: Batch, item: Inbound[Signal]) -> None:
        if batch.predates_erasure(item):
            return
        lead = batch.lead_of(item.event.data.lead_id)
        outcomes = self._outcomes(batch, lead, item.event)
        for outcome in outcomes:
            self._announce(batch, item, lead, outcome)

    def _outcomes(self, batch: Batch, lead: Lead, event: Signal) -> list[Outcome]:
        """What the signal does to the lead: an MQL, a disqualification, or nothing to say."""
        model = self.model
        if type(event) is ActivitySignal:
            data = event.data
            at = epoch_seconds(data.occurred_at)
            outcomes: list[Outcome] = []
            if data.traits is not None:
                outcomes += lifecycle.apply_identify(model, lead, _trait_dict(data.traits), at)
            props = history_properties(data.properties, data.source)
            return outcomes + lifecycle.apply_activity(model, lead, at, data.activity_type, props)
        if type(event) is IdentifySignal:
            at = epoch_seconds(event.data.occurred_at)
            return lifecycle.apply_identify(model, lead, _trait_dict(event.data.traits), at)
        if type(event) is AliasSignal:
            return self._merge_alias(batch, lead, event.data.previous_id)
        return []

    def _merge_alias(self, batch: Batch, lead: Lead, previous: str) -> list[Outcome]:
        """The anonymous visitor `previous` becomes part of `lead`; its row goes."""
        lead_id = lead.lead_id
        anonymous = batch.leads.pop(previous, None) if previous != lead_id else None
        batch.touched.pop(previous, None)
        if previous != lead_id:
            with_alias(lead, previous, anonymous)
        if anonymous is None:
            return []
        batch.merged_away.add(previous)
        return lifecycle.merge_alias(self.model, lead, anonymous)

    def _announce(self, batch: Batch, item: Inbound[Signal], lead: Lead, outcome: Outcome) -> None:
        """The outcome's event into the batch's outbox events, and its log line."""
        where = {"topic": item.topic, "partition": item.partition, "offset": item.offset}
        lead_id = lead.lead_id
        if isinstance(outcome, Qualified):
            the_id = events_out.mql_id(lead_id, outcome.cycle)
            if lead.complete:
                batch.events.append(events_out.mql_event(self.model, lead, outcome))
            else:
                batch.events.append(PendingMql(outcome, as_it_stands(lead)))
            batch.new_mqls[lead_id] = the_id
            log.info("scoring.mql", lead_id=lead_id, event_id=item.event.id,
                     mql_id=the_id, trigger=f"{outcome.kind}:{outcome.rule}",
                     score=outcome.engagement + outcome.fit.points, **where)  # fmt: skip
        else:
            batch.events.append(events_out.disqualified_event(self.model, outcome))
            log.info("scoring.disqualified", lead_id=lead_id, event_id=item.event.id,
                     reason=outcome.reason, **where)  # fmt: skip

    async def explain_pending(self, uow: UnitOfWork, batch: Batch) -> None:
        """Build the MQL events that waited for their leads' histories, in their places."""
        pending = [e.lead for e in batch.events if isinstance(e, PendingMql)]
        if not pending:
            return
        await leads.complete(uow.conn, pending)
        model = self.model
        for i, event in enumerate(batch.events):
            if isinstance(event, PendingMql):
                lifecycle.prune(model, event.lead)
                batch.events[i] = events_out.mql_event(model, event.lead, event.outcome)

    # --- persist --------------------------------------------------------------------------

    async def persist(self, uow: UnitOfWork, batch: Batch) -> None:
        """Save the changed leads in one statement, drop the merged-away ones, and put the
        batch's events (score changes last) in the outbox."""
        model = self.model
        rows = []
        for lead_id, lead in batch.touched.items():
            if lead_id in batch.merged_away:
                continue
            before = lead.emitted[1] if lead.emitted is not None else None
            changed = score_change_due(model, lead)
            if changed is not None:
                batch.events.append(events_out.score_changed_event(model, lead_id, changed, before))
            score = changed or score_at(model, lead)
            updated = None if score.at is None else utc_datetime(score.at)
            row = leads.LeadRow(
                lead, score.total, score.fit.grade, batch.new_mqls.get(lead_id), updated
            )
            rows.append(row)
        await leads.save(uow.conn, rows, model.version)
        await leads.delete(uow.conn, batch.merged_away)
        events = [e for e in batch.events if not isinstance(e, PendingMql)]
        if len(events) != len(batch.events):  # explain_pending runs first; never drop an MQL
            raise RuntimeError("an MQL was left without its explanation")
        await outbox.append(uow.conn, SCHEMA, events_out.messages(events))
