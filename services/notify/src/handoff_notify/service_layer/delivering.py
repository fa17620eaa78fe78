"""Recording one try of a delivery, in one transaction: the delivery's new state, the
endpoint's health, and the events that say a delivery gave up or an endpoint was disabled."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg
import structlog

from handoff_notify.adapters import events_out, queue
from handoff_notify.adapters.metrics import DELIVERIES_FAILED, DELIVERY_TRIES, ENDPOINTS_DISABLED
from handoff_notify.adapters.queue import Claimed
from handoff_notify.adapters.senders import Attempt
from handoff_notify.domain.attempts import Decision, Policies, after_try
from handoff_notify.domain.breaker import Health
from handoff_notify.domain.retry import Verdict

log = structlog.get_logger("handoff.notify")


async def record_try(
    conn: asyncpg.Connection,
    d: Claimed,
    attempt: Attempt,
    now: datetime,
    policies: Policies,
    random_unit: float,
) -> Decision:
    async with conn.transaction():
        clean = d.health == Health()
        if attempt.status is not None and 200 <= attempt.status < 300 and clean:
            health: Health | None = d.health  # the common case: no lock on the subscription
        else:
            health = await queue.lock_health(conn, d.subscription_id)
        decision = after_try(
            channel=d.channel,
            attempts_before=d.attempts,
            status_code=attempt.status,
            retry_after=attempt.retry_after,
            now=now,
            health=health or Health(),
            policies=policies,
            random_unit=random_unit,
        )
        await queue.save_try(
            conn,
            d.delivery_id,
            status=decision.status,
            attempts=decision.attempts,
            next_at=decision.next_at,
            at=now,
            last_status=attempt.status,
            last_error=attempt.error,
            last_response=attempt.response_excerpt,
        )
        if health is not None and decision.health != health:
            await queue.save_health(conn, d.subscription_id, decision.health)
        if decision.gave_up:
            failed = events_out.delivery_failed(
                d, decision.attempts, attempt.status, attempt.error, now
            )
            await queue.append_outbox(conn, failed)
        if decision.disabled_now:
            disabled = events_out.endpoint_disabled(d.subscription_id, d.channel, decision.health)
            await queue.append_outbox(conn, disabled)
    # Counted after the commit: a rolled-back record counts nothing.
    outcome = (
        "failed"
        if decision.gave_up and decision.verdict is Verdict.RETRY
        else decision.verdict.value
    )
    DELIVERY_TRIES.labels(d.channel, outcome).inc()
    if decision.gave_up:
        DELIVERIES_FAILED.labels(d.channel).inc()
    if decision.disabled_now:
        ENDPOINTS_DISABLED.labels(d.channel).inc()
        log.warning(
            "notify.endpoint.disabled",
            subscription_id=d.subscription_id,
            reason=decision.health.disabled_reason,
        )
    if decision.status != "succeeded":
        log.info(
            "notify.delivery.try_failed",
            delivery_id=d.delivery_id,
            subscription_id=d.subscription_id,
            event_id=d.event_id,
            status=attempt.status,
            error=attempt.error,
            attempts=decision.attempts,
            next_at=decision.next_at.isoformat() if decision.next_at else None,
        )
    return decision


def plain_success(d: Claimed, attempt: Attempt) -> bool:
    """Delivered, to an endpoint with a clean record: nothing to decide but the write."""
    if d.channel == "email":
        delivered = attempt.status == 250
    else:
        delivered = attempt.status is not None and 200 <= attempt.status < 300
    return delivered and d.health == Health()


def record_delivered(batch: Sequence[tuple[Claimed, int | None, datetime]]) -> None:
    """Count a batch of plain successes, after its commit."""
    for d, _, _ in batch:
        DELIVERY_TRIES.labels(d.channel, Verdict.DELIVERED.value).inc()
