"""The consumer's batch handler: events in, deliveries queued, in the batch's unit of work.

The handler reads the subscriptions once per batch, so one added through the API takes
effect from the next batch on, in every instance, without a restart.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from handoff.db import UnitOfWork
from handoff.events import fact_id
from handoff.messaging.consumer import Inbound
from handoff_notify.adapters import deliveries_repo, subscriptions_repo
from handoff_notify.adapters.deliveries_repo import NewDelivery
from handoff_notify.domain.facts import HandoffSeen, facts_of, handoff_of_assignment, mql_of
from handoff_notify.domain.subscriptions import Subscription, matching

# Renders the body for a Slack or email subscription; None: nothing to send for this event.
Render = Callable[[Subscription, Any, HandoffSeen | None], bytes | None]


def event_body(event: Any) -> bytes:
    """The CloudEvent as JSON: a webhook's body."""
    return bytes(event.model_dump_json(exclude_none=True).encode())


def delivery_id(event_id: str, subscription_id: str) -> str:
    """The idempotency key made an id: the same event for the same subscription, the same row."""
    return fact_id("notify.delivery", event_id, subscription_id)


class EventHandler:
    def __init__(
        self, render: Render, wake: Callable[[], None], clock: Callable[[], datetime] | None = None
    ) -> None:
        self.render, self.wake = render, wake
        self.clock = clock or (lambda: datetime.now(UTC))

    async def __call__(self, uow: UnitOfWork, items: list[Inbound[Any]]) -> None:
        events = [i.event for i in items]
        seen = [
            s
            for e in events
            if (
                s := handoff_of_assignment(
                    e.type, e.data if isinstance(e.data, dict) else {}, e.time
                )
            )
        ]
        await deliveries_repo.remember_handoffs(uow.conn, seen)
        mqls = [
            m for e in events if (m := mql_of(e.type, e.data if isinstance(e.data, dict) else {}))
        ]
        await deliveries_repo.remember_mqls(uow.conn, mqls)
        ids = [
            h
            for e in events
            if isinstance(e.data, dict) and isinstance(h := e.data.get("handoff_id"), str)
        ]
        known = await deliveries_repo.handoffs_by_id(uow.conn, ids)
        subscriptions = await subscriptions_repo.enabled(uow.conn)
        if not subscriptions:
            return
        new: list[NewDelivery] = []
        for event in events:
            facts = facts_of(event.id, event.type, event.data, known)
            for sub in matching(subscriptions, facts):
                body = (
                    event_body(event)
                    if sub.channel == "webhook"
                    else self.render(sub, event, known.get(facts.handoff_id or ""))
                )
                if body is not None:
                    new.append(
                        NewDelivery(
                            delivery_id(event.id, sub.subscription_id),
                            event.id,
                            sub.subscription_id,
                            event.type,
                            facts.lead_id,
                            body,
                        )
                    )
        if await deliveries_repo.add(uow.conn, new, self.clock()):
            uow.after_commit(self.wake)
