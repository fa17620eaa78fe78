"""The delivery queue's hot queries, on raw asyncpg connections (like sla-watch's firer):
claim due deliveries with SKIP LOCKED, give back the ones not started, record each try.

A claim is one statement that moves `next_at` of the claimed rows to the end of a lease:
another instance skips the locked rows while the claim runs and sees them as not yet due
afterwards, so each is tried by one worker. If that worker dies (kill -9), the lease runs
out and another instance tries again: at-least-once, with the event id as the receiver's
idempotency key (`webhook-id`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from handoff.messaging.producer import Message
from handoff_notify.domain.breaker import Health


@dataclass(frozen=True, slots=True)
class Claimed:
    delivery_id: str
    event_id: str
    subscription_id: str
    event_type: str
    lead_id: str | None
    body: bytes
    attempts: int
    channel: str
    url: str
    secrets: tuple[str, ...]
    health: Health


CLAIM = """
WITH due AS (
  SELECT d.delivery_id FROM notify.deliveries d
  JOIN notify.subscriptions s ON s.subscription_id = d.subscription_id
  WHERE d.status = 'pending' AND d.next_at <= $1
    AND s.disabled_at IS NULL AND (s.open_until IS NULL OR s.open_until <= $1)
    AND NOT (d.subscription_id = ANY($3::text[]))
  ORDER BY d.next_at LIMIT $2
  FOR UPDATE OF d SKIP LOCKED
)
UPDATE notify.deliveries d SET next_at = $1 + make_interval(secs => $4)
FROM due, notify.subscriptions s
WHERE d.delivery_id = due.delivery_id AND s.subscription_id = d.subscription_id
RETURNING d.delivery_id, d.event_id, d.subscription_id, d.event_type, d.lead_id, d.body,
  d.attempts, s.channel, s.url, s.secrets, s.consecutive_failures, s.failing_since,
  s.open_until, s.disabled_at, s.disabled_reason, d.next_at
"""


async def claim(
    conn: asyncpg.Connection,
    now: datetime,
    limit: int,
    busy: Sequence[str],
    lease_seconds: float,
) -> list[Claimed]:
    rows = await conn.fetch(CLAIM, now, limit, list(busy), lease_seconds)
    rows = sorted(rows, key=lambda r: r["next_at"])
    return [
        Claimed(
            r["delivery_id"],
            r["event_id"],
            r["subscription_id"],
            r["event_type"],
            r["lead_id"],
            bytes(r["body"]),
            r["attempts"],
            r["channel"],
            r["url"],
            tuple(r["secrets"]),
            Health(
                r["consecutive_failures"],
                r["failing_since"],
                r["open_until"],
                r["disabled_at"],
                r["disabled_reason"],
            ),
        )
        for r in rows
    ]


async def give_back(conn: asyncpg.Connection, delivery_ids: Sequence[str], now: datetime) -> None:
    """Claimed but not started (its endpoint had no free slot): due again at once."""
    if delivery_ids:
        await conn.execute(
            "UPDATE notify.deliveries SET next_at = $2 WHERE delivery_id = ANY($1::text[]) "
            "AND status = 'pending'",
            list(delivery_ids),
            now,
        )


async def lock_health(conn: asyncpg.Connection, subscription_id: str) -> Health | None:
    row = await conn.fetchrow(
        "SELECT consecutive_failures, failing_since, open_until, disabled_at, disabled_reason "
        "FROM notify.subscriptions WHERE subscription_id = $1 FOR UPDATE",
        subscription_id,
    )
    return None if row is None else Health(*row)


async def save_health(conn: asyncpg.Connection, subscription_id: str, h: Health) -> None:
    await conn.execute(
        "UPDATE notify.subscriptions SET consecutive_failures = $2, failing_since = $3, "
        "open_until = $4, disabled_at = $5, disabled_reason = $6 WHERE subscription_id = $1",
        subscription_id,
        h.consecutive_failures,
        h.failing_since,
        h.open_until,
        h.disabled_at,
        h.disabled_reason,
    )


async def save_try(
    conn: asyncpg.Connection,
    delivery_id: str,
    *,
    status: str,
    attempts: int,
    next_at: datetime | None,
    at: datetime,
    last_status: int | None,
    last_error: str | None,
    last_response: str | None,
) -> None:
    await conn.execute(
        "UPDATE notify.deliveries SET status = $2, attempts = $3, next_at = $4, "
        "last_attempt_at = $5, last_status = $6, last_error = $7, last_response = $8, "
        "delivered_at = CASE WHEN $2 = 'succeeded' THEN $5 ELSE delivered_at END "
        # Only while pending: a notice cancelled (its lead erased) while it was being tried
        # stays cancelled, and the receiver's answer is not stored beside it.
        "WHERE delivery_id = $1 AND status = 'pending'",
        delivery_id,
        status,
        attempts,
        next_at,
        at,
        last_status,
        last_error,
        last_response,
    )


async def append_outbox(conn: asyncpg.Connection, message: Message) -> None:
    await conn.execute(
        "INSERT INTO notify.outbox (topic, key, value) VALUES ($1, $2, $3)",
        message.topic,
        message.key,
        message.value,
    )


async def seconds_until_next_due(conn: asyncpg.Connection, now: datetime) -> float | None:
    value = await conn.fetchval(
        "SELECT EXTRACT(EPOCH FROM (min(greatest(d.next_at, coalesce(s.open_until, d.next_at)))"
        " - $1::timestamptz)) FROM notify.deliveries d JOIN notify.subscriptions s"
        " ON s.subscription_id = d.subscription_id"
        " WHERE d.status = 'pending' AND s.disabled_at IS NULL",
        now,
    )
    return None if value is None else float(value)


SAVE_DELIVERED = """
UPDATE notify.deliveries AS d SET status = 'succeeded', attempts = d.attempts + 1,
  next_at = NULL, last_attempt_at = s.at, delivered_at = s.at, last_status = s.status,
  last_error = NULL, last_response = NULL
FROM unnest($1::text[], $2::int[], $3::timestamptz[]) AS s(delivery_id, status, at)
WHERE d.delivery_id = s.delivery_id AND d.status = 'pending'
"""


async def save_delivered(
    conn: asyncpg.Connection, batch: Sequence[tuple[Claimed, int | None, datetime]]
) -> None:
    """Mark a batch of deliveries succeeded in one statement (their endpoints were healthy)."""
    await conn.execute(
        SAVE_DELIVERED,
        [d.delivery_id for d, _, _ in batch],
        [status for _, status, _ in batch],
        [at for _, _, at in batch],
    )


async def count_enabled(conn: asyncpg.Connection) -> int:
    return int(
        await conn.fetchval("SELECT count(*) FROM notify.subscriptions WHERE disabled_at IS NULL")
    )
