"""The consumer's batch handler: events in, deliveries queued, in the batch's unit of work.

The handler reads the subscriptions once per batch, so one added through the API takes
effect from the next batch on, in every instance, without a restart.

The new-lead notice (Slack, email) names the accept stage's due time, which only
handoff.sla.started tells, milliseconds after the assignment. So the notice has its own
key, the handoff (not an event): the assignment queues it at once when the start is already
known, else held for a short grace; the start releases a held one with the due time, or is
remembered for an assignment still to come. Whichever comes first queues the one delivery
per subscription; the other finds it and sends nothing more (docs/notify.md).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import structlog
from pydantic import ValidationError

from handoff.db import UnitOfWork
from handoff.events import fact_id, scoring
from handoff.events.envelope import GenericEvent
from handoff.messaging.consumer import Inbound
from handoff.metrics import LEADS_ERASED
from handoff_notify.adapters import deliveries_repo, erasure_repo, events_out, subscriptions_repo
from handoff_notify.adapters.deliveries_repo import NewDelivery
from handoff_notify.domain.erasure import ERASED
from handoff_notify.domain.facts import (
    ASSIGNED,
    REASSIGNED,
    SLA_STARTED,
    HandoffSeen,
    accept_due_of,
    facts_of,
    handoff_of_assignment,
    mql_of,
    reassignment_of,
)
from handoff_notify.domain.subscriptions import Facts, Subscription, matching

log = structlog.get_logger("handoff.notify")

# Renders the body for a Slack or email subscription; None: nothing to send for this event.
Render = Callable[[Subscription, GenericEvent, HandoffSeen | None], bytes | None]


def delivery_id(event_id: str, subscription_id: str) -> str:
    """The idempotency key made an id: the same event for the same subscription, the same row."""
    return fact_id("notify.delivery", event_id, subscription_id)


class EventHandler:
    def __init__(
        self,
        render: Render,
        wake: Callable[[], None],
        clock: Callable[[], datetime] | None = None,
        *,
        new_lead_grace_seconds: float = 5.0,
    ) -> None:
        self.render, self.wake = render, wake
        self.clock = clock or (lambda: datetime.now(UTC))
        # How long a new-lead notice waits for its SLA start (and due time) before it goes
        # without one: the start follows the assignment within milliseconds when a policy applies.
        self.grace = timedelta(seconds=new_lead_grace_seconds)

    async def __call__(self, uow: UnitOfWork, items: list[Inbound[GenericEvent]]) -> None:
        # An erasure splits the batch (rarely), so that it erases what came before it and
        # nothing the lead sent after it; one transaction all the same.
        cut = next((n + 1 for n, i in enumerate(items[:-1]) if i.event.type == ERASED), None)
        if cut is not None:
            await self(uow, items[:cut])
            await self(uow, items[cut:])
            return
        await self._queue(uow, items)
        await apply_erasures(uow, [i.event for i in items if i.event.type == ERASED], self.clock())

    async def _queue(self, uow: UnitOfWork, items: list[Inbound[GenericEvent]]) -> None:
        events = [i.event for i in items]
        datas = [e.data if isinstance(e.data, dict) else {} for e in events]
        # What later events and notices need, remembered first (in event order).
        await deliveries_repo.remember_reassignments(
            uow.conn,
            [r for e, d in zip(events, datas, strict=True) if (r := reassignment_of(e.type, d))],
        )
        await deliveries_repo.remember_handoffs(
            uow.conn,
            [
                s
                for e, d in zip(events, datas, strict=True)
                if (s := handoff_of_assignment(e.type, d, e.time))
            ],
        )
        await deliveries_repo.remember_accept_dues(
            uow.conn,
            [a for e, d in zip(events, datas, strict=True) if (a := accept_due_of(e.type, d))],
        )
        await deliveries_repo.remember_mqls(
            uow.conn,
            [
                m
                for e, d in zip(events, datas, strict=True)
                if (m := mql_of(e.type, d)) and valid_mql(e)
            ],
        )
        ids = [h for d in datas if isinstance(h := d.get("handoff_id"), str)]
        known = await deliveries_repo.handoffs_by_id(uow.conn, ids)
        subscriptions = await subscriptions_repo.enabled(uow.conn)
        if not subscriptions:
            return
        erased_leads = [lead for e in events if e.type == ERASED for lead in erased_ids(e)]
        of_lead = await deliveries_repo.handoffs_by_lead(uow.conn, erased_leads)
        new: list[NewDelivery] = []
        held: list[NewDelivery] = []  # new-lead notices waiting for their due time
        released: list[NewDelivery] = []  # new-lead notices with the due time from a start
        for event in events:
            if event.type == ERASED:
                new += self._erasure_deliveries(event, subscriptions, of_lead)
                continue
            new += self._deliveries(event, subscriptions, known)
            notice = reassignment_notice(event, known)
            if notice is not None:
                new += self._deliveries(notice, subscriptions, known, notices_only=True)
            lead = new_lead_notice(event, known)
            if lead is not None:
                queued = self._deliveries(lead, subscriptions, known, notices_only=True)
                if event.type == SLA_STARTED:
                    released += queued
                elif known[lead.data["handoff_id"]].accept_due_at is not None:
                    new += queued  # the start came first: the due time is known, send now
                else:
                    held += queued
        now = self.clock()
        added = await deliveries_repo.add(uow.conn, new, now)
        added += await deliveries_repo.add(uow.conn, held, now, held_until=now + self.grace)
        added += await deliveries_repo.add_or_release(uow.conn, released, now)
        if added:
            uow.after_commit(self.wake)

    def _erasure_deliveries(
        self,
        event: GenericEvent,
        subscriptions: list[Subscription],
        of_lead: dict[str, list[HandoffSeen]],
    ) -> list[NewDelivery]:
        """Webhooks only (it carries ids, nothing for a person to read). A subscription's
        pool, team and rep filters match the lead's handoffs: a CRM that heard of the lead
        through one of them hears that it was erased."""
        ids = erased_ids(event)
        body = events_out.webhook_body(event)
        facts = [Facts(event_id=event.id, type=event.type, lead_id=ids[0] if ids else None)]
        facts += [
            Facts(event.id, event.type, h.lead_id, h.handoff_id, h.rep_id, h.pool, h.team)
            for lead in ids
            for h in of_lead.get(lead, [])
        ]
        return [
            NewDelivery(
                delivery_id(event.id, sub.subscription_id),
                event.id,
                sub.subscription_id,
                event.type,
                facts[0].lead_id,
                body,
            )
            for sub in subscriptions
            if sub.channel == "webhook" and any(sub.wants(f) for f in facts)
        ]

    def _deliveries(
        self,
        event: GenericEvent,
        subscriptions: list[Subscription],
        known: dict[str, HandoffSeen],
        notices_only: bool = False,
    ) -> list[NewDelivery]:
        facts = facts_of(event.id, event.type, event.data, known)
        out = []
        webhook: bytes | None = None  # the event's body, written once for all its webhooks
        for sub in matching(subscriptions, facts):
            if sub.channel == "webhook":
                if notices_only:
                    continue
                webhook = webhook or events_out.webhook_body(event)
                body: bytes | None = webhook
            elif event.type in (REASSIGNED, ASSIGNED) and not notices_only:
                # A reassignment's notice names the new rep, who is known only from the
                # assignment that follows (reassignment_notice); the new-lead notice waits for
                # the due time (new_lead_notice). Webhooks get the event itself at once.
                continue
            else:
                body = self.render(sub, event, known.get(facts.handoff_id or ""))
            if body is not None:
                out.append(
                    NewDelivery(
                        delivery_id(event.id, sub.subscription_id),
                        event.id,
                        sub.subscription_id,
                        event.type,
                        facts.lead_id,
                        body,
                    )
                )
        return out


def valid_mql(event: GenericEvent) -> bool:
    """Only an MQL scoring could have published is remembered. A broken one (produced to the
    topic by hand, say) is dead-lettered by routing and unknown to scoring, so no erasure
    would ever reach the name it carries: notify must not keep it either."""
    try:
        scoring.LeadMql.model_validate(event.model_dump(mode="json", exclude_none=True))
    except ValidationError:
        log.warning("notify.mql.invalid", event_id=event.id)  # the id only: it has traits
        return False
    return True


def erased_ids(event: GenericEvent) -> list[str]:
    """The lead and its aliases named by a `handoff.lead.erased` event."""
    data = event.data if isinstance(event.data, dict) else {}
    lead, aliases = data.get("lead_id"), data.get("aliases")
    ids = [lead] if isinstance(lead, str) and lead else []
    if isinstance(aliases, list):
        ids += [a for a in aliases if isinstance(a, str) and a]
    return ids


async def apply_erasures(uow: UnitOfWork, events: list[GenericEvent], now: datetime) -> None:
    """Erase each `handoff.lead.erased` event's lead and aliases; one log line per lead."""
    events = [e for e in events if erased_ids(e)]
    if events:
        uow.after_commit(lambda: LEADS_ERASED.labels("notify").inc(len(events)))
    for event in events:
        ids = erased_ids(event)
        done = await erasure_repo.erase_leads(uow.conn, ids, now)
        log.info(
            "notify.lead.erased",
            lead_id=ids[0],
            event_id=event.id,
            aliases=len(ids) - 1,
            mqls=done.mqls,
            bodies_deleted=done.bodies_deleted,
            notices_cancelled=done.cancelled,
            webhooks_stripped=done.stripped,
            fields=",".join(done.fields),
        )


def reassignment_notice(event: GenericEvent, known: dict[str, HandoffSeen]) -> GenericEvent | None:
    """For the assignment of a handoff that replaced a reassigned one: the reassignment as the
    Slack and email notices need it, naming both reps (routing's `reassigned` event does not
    know the new rep yet). Its id is derived, so a replay queues nothing new."""
    if event.type != ASSIGNED or not isinstance(event.data, dict):
        return None
    handoff_id = event.data.get("handoff_id")
    seen = known.get(handoff_id) if isinstance(handoff_id, str) else None
    if seen is None or seen.previous_rep_id is None or seen.rep_id is None:
        return None
    return GenericEvent(
        id=fact_id("notify.reassigned-notice", seen.handoff_id),
        source="/handoff/notify",
        type=REASSIGNED,
        subject=seen.lead_id,
        time=event.time,
        data={
            "lead_id": seen.lead_id,
            "handoff_id": seen.handoff_id,
            "rep_id": seen.rep_id,
            "previous_rep_id": seen.previous_rep_id,
        },
    )


def new_lead_notice(event: GenericEvent, known: dict[str, HandoffSeen]) -> GenericEvent | None:
    """For an assignment, or the accept stage's SLA start of an assigned handoff: the new-lead
    notice as Slack and email render it. Its id is the handoff's, not the event's, so the
    assignment and the start queue the same delivery per subscription, and a replay none."""
    if event.type == SLA_STARTED:
        if not isinstance(event.data, dict) or accept_due_of(event.type, event.data) is None:
            return None
    elif event.type != ASSIGNED:
        return None
    handoff_id = event.data.get("handoff_id") if isinstance(event.data, dict) else None
    seen = known.get(handoff_id) if isinstance(handoff_id, str) else None
    if seen is None or seen.rep_id is None or seen.assigned_at is None:
        return None  # a start before its assignment: the assignment sends the notice
    return GenericEvent(
        id=fact_id("notify.new-lead-notice", seen.handoff_id),
        source="/handoff/notify",
        type=ASSIGNED,
        subject=seen.lead_id,
        time=event.time,
        data={
            "lead_id": seen.lead_id,
            "handoff_id": seen.handoff_id,
            "rep_id": seen.rep_id,
            "pool": seen.pool,
            "team": seen.team,
            "mql_id": seen.mql_id,
        },
    )
