"""The deliveries and handoffs repository for the consumer and the API (SQLAlchemy, inside
the caller's unit of work)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from handoff_notify.domain.facts import AcceptDue, HandoffSeen, MqlSeen, Reassignment


@dataclass(frozen=True, slots=True)
class NewDelivery:
    delivery_id: str
    event_id: str
    subscription_id: str
    event_type: str
    lead_id: str | None
    body: bytes


async def remember_handoffs(conn: AsyncConnection, seen: Sequence[HandoffSeen]) -> None:
    # One row per handoff: an upsert may not touch a row twice in one statement.
    seen = list({s.handoff_id: s for s in seen}.values())
    if not seen:
        return
    await conn.execute(
        text(
            "INSERT INTO notify.handoffs (handoff_id, lead_id, rep_id, pool, team, manager_id, "
            "assigned_at, mql_id) SELECT * FROM unnest(CAST(:h AS text[]), CAST(:l AS text[]), "
            "CAST(:r AS text[]), CAST(:p AS text[]), CAST(:t AS text[]), CAST(:m AS text[]), "
            "CAST(:a AS timestamptz[]), CAST(:q AS text[])) ON CONFLICT (handoff_id) DO UPDATE SET "
            "rep_id = excluded.rep_id, pool = excluded.pool, team = excluded.team, "
            "manager_id = excluded.manager_id, assigned_at = excluded.assigned_at, "
            "mql_id = excluded.mql_id"
        ),
        {
            "h": [s.handoff_id for s in seen],
            "l": [s.lead_id for s in seen],
            "r": [s.rep_id for s in seen],
            "p": [s.pool for s in seen],
            "t": [s.team for s in seen],
            "m": [s.manager_id for s in seen],
            "a": [s.assigned_at for s in seen],
            "q": [s.mql_id for s in seen],
        },
    )


async def remember_reassignments(conn: AsyncConnection, seen: Sequence[Reassignment]) -> None:
    """The handoff that replaces a reassigned one starts as a row naming the previous rep;
    its assignment fills in the rest."""
    seen = list({s.new_handoff_id: s for s in seen}.values())
    if not seen:
        return
    await conn.execute(
        text(
            "INSERT INTO notify.handoffs (handoff_id, lead_id, previous_rep_id) "
            "SELECT * FROM unnest(CAST(:h AS text[]), CAST(:l AS text[]), CAST(:p AS text[])) "
            "ON CONFLICT (handoff_id) DO UPDATE SET previous_rep_id = excluded.previous_rep_id"
        ),
        {
            "h": [s.new_handoff_id for s in seen],
            "l": [s.lead_id for s in seen],
            "p": [s.previous_rep_id for s in seen],
        },
    )


async def remember_accept_dues(conn: AsyncConnection, seen: Sequence[AcceptDue]) -> None:
    """The accept stage's due time; a start seen before the assignment makes the row, which
    the assignment then fills in."""
    seen = list({s.handoff_id: s for s in seen}.values())
    if not seen:
        return
    await conn.execute(
        text(
            "INSERT INTO notify.handoffs (handoff_id, lead_id, accept_due_at) "
            "SELECT * FROM unnest(CAST(:h AS text[]), CAST(:l AS text[]), "
            "CAST(:d AS timestamptz[])) "
            "ON CONFLICT (handoff_id) DO UPDATE SET accept_due_at = excluded.accept_due_at"
        ),
        {
            "h": [s.handoff_id for s in seen],
            "l": [s.lead_id for s in seen],
            "d": [s.due_at for s in seen],
        },
    )


async def remember_mqls(conn: AsyncConnection, seen: Sequence[MqlSeen]) -> None:
    if not seen:
        return
    await conn.execute(
        text(
            "INSERT INTO notify.mqls (mql_id, lead_id, reason, lead_name, company_name) "
            "SELECT * FROM unnest(CAST(:m AS text[]), CAST(:l AS text[]), CAST(:r AS text[]), "
            "CAST(:n AS text[]), CAST(:c AS text[])) ON CONFLICT (mql_id) DO NOTHING"
        ),
        {
            "m": [s.mql_id for s in seen],
            "l": [s.lead_id for s in seen],
            "r": [s.reason for s in seen],
            "n": [s.lead_name for s in seen],
            "c": [s.company_name for s in seen],
        },
    )


async def handoffs_by_id(conn: AsyncConnection, ids: Sequence[str]) -> dict[str, HandoffSeen]:
    if not ids:
        return {}
    rows = await conn.execute(
        text(
            "SELECT h.handoff_id, h.lead_id, h.rep_id, h.pool, h.team, h.manager_id, "
            "h.assigned_at, h.mql_id, h.previous_rep_id, m.reason, m.lead_name, m.company_name, "
            "h.accept_due_at "
            "FROM notify.handoffs h LEFT JOIN notify.mqls m ON m.mql_id = h.mql_id "
            "WHERE h.handoff_id = ANY(CAST(:ids AS text[]))"
        ),
        {"ids": list(set(ids))},
    )
    return {r[0]: HandoffSeen(*r) for r in rows}


async def handoffs_by_lead(
    conn: AsyncConnection, lead_ids: Sequence[str]
) -> dict[str, list[HandoffSeen]]:
    """The handoffs notify has seen of these leads (their pools, teams and reps)."""
    if not lead_ids:
        return {}
    rows = await conn.execute(
        text(
            "SELECT handoff_id, lead_id, rep_id, pool, team, manager_id, assigned_at, mql_id, "
            "previous_rep_id FROM notify.handoffs WHERE lead_id = ANY(CAST(:ids AS text[])) "
            "ORDER BY handoff_id"
        ),
        {"ids": list(set(lead_ids))},
    )
    out: dict[str, list[HandoffSeen]] = {}
    for r in rows:
        out.setdefault(r[1], []).append(HandoffSeen(*r))
    return out


_INSERT = (
    "INSERT INTO notify.deliveries (delivery_id, event_id, subscription_id, event_type, "
    "lead_id, body, next_at, held_until) SELECT d, e, s, t, l, b, CAST(:at AS timestamptz), "
    "CAST(:held AS timestamptz) FROM "
    "unnest(CAST(:d AS text[]), CAST(:e AS text[]), CAST(:s AS text[]), "
    "CAST(:t AS text[]), CAST(:l AS text[]), CAST(:b AS bytea[])) AS x(d, e, s, t, l, b) "
)


async def add(
    conn: AsyncConnection,
    new: Sequence[NewDelivery],
    now: datetime,
    *,
    held_until: datetime | None = None,
) -> int:
    """Queue deliveries, due now (or held until `held_until`); one per event per subscription
    (a replay adds nothing)."""
    return await _insert(conn, new, held_until or now, held_until, "ON CONFLICT DO NOTHING")


async def add_or_release(conn: AsyncConnection, new: Sequence[NewDelivery], now: datetime) -> int:
    """Queue deliveries due now; where the same one is still held (no worker has claimed it:
    next_at = held_until), this body replaces the held one and it is due now. One sent, being
    sent or already released is left alone: still one delivery per key."""
    return await _insert(
        conn,
        new,
        now,
        None,
        "ON CONFLICT (event_id, subscription_id) DO UPDATE SET body = excluded.body, "
        "next_at = excluded.next_at, held_until = NULL "
        "WHERE notify.deliveries.status = 'pending' AND notify.deliveries.attempts = 0 "
        "AND notify.deliveries.next_at = notify.deliveries.held_until",
    )


async def _insert(
    conn: AsyncConnection,
    new: Sequence[NewDelivery],
    at: datetime,
    held_until: datetime | None,
    on_conflict: str,
) -> int:
    # One row per key: an upsert may not touch a row twice in one statement.
    new = list({n.delivery_id: n for n in reversed(new)}.values())
    if not new:
        return 0
    result = await conn.execute(
        text(_INSERT + on_conflict),
        {
            "d": [n.delivery_id for n in new],
            "e": [n.event_id for n in new],
            "s": [n.subscription_id for n in new],
            "t": [n.event_type for n in new],
            "l": [n.lead_id for n in new],
            "b": [n.body for n in new],
            "at": at,
            "held": held_until,
        },
    )
    return int(result.rowcount or 0)


DELIVERY_COLUMNS = (
    "delivery_id, event_id, subscription_id, event_type, lead_id, status, attempts, next_at, "
    "created_at, last_attempt_at, last_status, last_error, last_response, delivered_at, erased_at"
)


async def listing(
    conn: AsyncConnection,
    *,
    status: str | None,
    subscription_id: str | None,
    before: str | None,
    limit: int,
) -> list[Any]:
    """Newest first, paged by delivery id order within created_at (a keyset cursor)."""
    where = ["TRUE"]
    params: dict[str, Any] = {"limit": limit}
    if status:
        where.append("status = :status")
        params["status"] = status
    if subscription_id:
        where.append("subscription_id = :sid")
        params["sid"] = subscription_id
    if before:
        where.append(
            "(created_at, delivery_id) < (SELECT created_at, delivery_id FROM notify.deliveries "
            "WHERE delivery_id = :before)"
        )
        params["before"] = before
    rows = await conn.execute(
        text(
            f"SELECT {DELIVERY_COLUMNS} FROM notify.deliveries WHERE {' AND '.join(where)} "
            "ORDER BY created_at DESC, delivery_id DESC LIMIT :limit"
        ),
        params,
    )
    return list(rows)


async def one(conn: AsyncConnection, delivery_id: str) -> Any | None:
    rows = await conn.execute(
        text(f"SELECT {DELIVERY_COLUMNS} FROM notify.deliveries WHERE delivery_id = :id"),
        {"id": delivery_id},
    )
    return rows.first()


async def retry_now(conn: AsyncConnection, delivery_id: str, now: datetime) -> bool:
    """A failed (or pending) delivery due again at once, with a fresh schedule; never one
    whose lead was erased (its body is gone)."""
    result = await conn.execute(
        text(
            "UPDATE notify.deliveries SET status = 'pending', next_at = :now, attempts = 0 "
            "WHERE delivery_id = :id AND status IN ('failed', 'pending') AND erased_at IS NULL"
        ),
        {"id": delivery_id, "now": now},
    )
    return bool(result.rowcount)


async def fail_pending_of(conn: AsyncConnection, subscription_id: str, now: datetime) -> None:
    """The subscription was deleted: its waiting deliveries fail, visibly, instead of waiting."""
    await conn.execute(
        text(
            "UPDATE notify.deliveries SET status = 'failed', next_at = NULL, "
            "last_error = 'the subscription was deleted', last_attempt_at = :now "
            "WHERE subscription_id = :id AND status = 'pending'"
        ),
        {"id": subscription_id, "now": now},
    )
