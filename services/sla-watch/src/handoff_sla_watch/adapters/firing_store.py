"""The firer's queries, on a raw asyncpg connection: claim due timers, write back, outbox events.

This is the hot path of a burst (a hundred thousand timers due at once); SQLAlchemy's
per-row result handling cost six times the query itself here, so the firer speaks to
asyncpg directly, inside a transaction its caller opens. The SQL is the same shape as
the repository's: SKIP LOCKED claim, set-based write back, one outbox insert.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg

from handoff.messaging.producer import Message
from handoff_sla_watch.domain.model import Timer, TimerState

_CLAIMED = (
    "timer_id",
    "lead_id",
    "handoff_id",
    "rep_id",
    "pool",
    "policy",
    "stage",
    "started_at",
    "due_at",
    "state",
    "fired_at",
    "stopped_at",
    "next_at",
    "escalation_level",
    "attempts",
    "manager_id",
)
CLAIM = (
    f"SELECT {', '.join(_CLAIMED)}, coalesce($1::timestamptz, now()) AS used_now "
    "FROM sla.timers WHERE next_at <= coalesce($1::timestamptz, now()) "
    "ORDER BY next_at LIMIT $2 FOR UPDATE SKIP LOCKED"
)
SAVE = (
    "UPDATE sla.timers AS t SET state = s.state, fired_at = s.fired_at, next_at = s.next_at, "
    "escalation_level = s.escalation_level, attempts = s.attempts "
    "FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::timestamptz[], $5::int[], "
    "$6::int[]) AS s(timer_id, state, fired_at, next_at, escalation_level, attempts) "
    "WHERE t.timer_id = s.timer_id"
)
OUTBOX = (
    "INSERT INTO sla.outbox (topic, key, value) "
    "SELECT * FROM unnest($1::text[], $2::bytea[], $3::bytea[])"
)
NEXT_DUE = (
    "SELECT EXTRACT(EPOCH FROM (SELECT min(next_at) FROM sla.timers "
    "WHERE next_at IS NOT NULL) - clock_timestamp())"
)


async def claim_due(
    conn: asyncpg.Connection, now: datetime | None, limit: int
) -> tuple[list[Timer], datetime | None]:
    """Lock up to `limit` timers whose next step is due, earliest first, and the time used.

    SKIP LOCKED lets several instances (and a consumer stopping a timer) work the same
    table: a row locked by one is invisible to the others' claim, so it fires once.
    `now` defaults to the database's clock, so instances on several hosts agree.
    """
    rows = await conn.fetch(CLAIM, now, limit)
    timers = [
        Timer(
            timer_id=r[0],
            lead_id=r[1],
            handoff_id=r[2],
            rep_id=r[3],
            pool=r[4],
            policy=r[5],
            stage=r[6],
            started_at=r[7],
            due_at=r[8],
            state=TimerState(r[9]),
            fired_at=r[10],
            stopped_at=r[11],
            next_at=r[12],
            escalation_level=r[13],
            attempts=r[14],
            manager_id=r[15],
        )
        for r in rows
    ]
    return timers, (rows[0][-1] if rows else now)


async def save_fired(conn: asyncpg.Connection, timers: Sequence[Timer]) -> None:
    """Write back what firing changed, for timers `claim_due` locked."""
    if timers:
        await conn.execute(
            SAVE,
            [t.timer_id for t in timers],
            [t.state.value for t in timers],
            [t.fired_at for t in timers],
            [t.next_at for t in timers],
            [t.escalation_level for t in timers],
            [t.attempts for t in timers],
        )


async def append_outbox(conn: asyncpg.Connection, messages: Sequence[Message]) -> None:
    """handoff.messaging.outbox.append, on this connection (the relay's NOTIFY trigger fires)."""
    if messages:
        await conn.execute(
            OUTBOX,
            [m.topic for m in messages],
            [m.key for m in messages],
            [m.value for m in messages],
        )


async def seconds_until_next_due(conn: asyncpg.Connection) -> float | None:
    """Seconds from the database's now to the earliest next step (negative if overdue)."""
    value = await conn.fetchval(NEXT_DUE)
    return None if value is None else float(value)


async def count_pending(conn: asyncpg.Connection) -> int:
    return int(await conn.fetchval("SELECT count(*) FROM sla.timers WHERE state = 'pending'"))
