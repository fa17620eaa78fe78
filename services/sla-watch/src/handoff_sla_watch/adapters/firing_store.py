"""The firer's queries, on a raw asyncpg connection: claim due timers, write back, outbox events.

This is the hot path of a burst (a hundred thousand timers due at once); SQLAlchemy's
per-row result handling cost six times the query itself here, so the firer speaks to
asyncpg directly, inside a transaction its caller opens: a SKIP LOCKED claim, then one
statement that writes the batch back and inserts its events into the outbox, their
JSON filled into templates (adapters.events).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg

from handoff.events import sla as ev
from handoff_sla_watch.adapters.events import fired_json
from handoff_sla_watch.domain.firing import Fired
from handoff_sla_watch.domain.model import Timer, TimerState

# In Timer's positional order, so a row builds a Timer without keyword matching.
CLAIM = (
    "SELECT timer_id, lead_id, handoff_id, policy, stage, state, rep_id, pool, started_at, "
    "due_at, fired_at, stopped_at, next_at, escalation_level, attempts, manager_id, "
    "coalesce($1::timestamptz, now()) AS used_now "
    "FROM sla.timers WHERE next_at <= coalesce($1::timestamptz, now()) "
    "ORDER BY next_at LIMIT $2 FOR UPDATE SKIP LOCKED"
)
# One statement per batch: write back what firing changed and outbox every fired step.
FIRE = (
    "WITH saved AS ("
    " UPDATE sla.timers AS t SET state = s.state, fired_at = s.fired_at, next_at = s.next_at,"
    " escalation_level = s.escalation_level, attempts = s.attempts"
    " FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::timestamptz[], $5::int[],"
    " $6::int[]) AS s(timer_id, state, fired_at, next_at, escalation_level, attempts)"
    " WHERE t.timer_id = s.timer_id"
    ") INSERT INTO sla.outbox (topic, key, value)"
    " SELECT $7, m.key, m.value FROM unnest($8::bytea[], $9::bytea[]) WITH ORDINALITY"
    " AS m(key, value, n) ORDER BY m.n"
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
    state = TimerState
    timers = [
        Timer(
            r[0],
            r[1],
            r[2],
            r[3],
            r[4],
            state(r[5]),
            r[6],
            r[7],
            r[8],
            r[9],
            r[10],
            r[11],
            r[12],
            r[13],
            r[14],
            manager_id=r[15],
        )
        for r in rows
    ]
    return timers, (rows[0][-1] if rows else now)


async def save_fired(
    conn: asyncpg.Connection, at: datetime, done: Sequence[tuple[Timer, list[Fired]]]
) -> None:
    """Write back what firing changed, for timers `claim_due` locked, and outbox every step."""
    if not done:
        return
    timers = [t for t, _ in done]
    steps = [(t, step) for t, fired in done for step in fired]
    await conn.execute(
        FIRE,
        [t.timer_id for t in timers],
        [t.state.value for t in timers],
        [t.fired_at for t in timers],
        [t.next_at for t in timers],
        [t.escalation_level for t in timers],
        [t.attempts for t in timers],
        ev.TOPIC,
        [t.lead_id.encode() for t, _ in steps],
        [fired_json(t, step) for t, step in steps],
    )


async def seconds_until_next_due(conn: asyncpg.Connection) -> float | None:
    """Seconds from the database's now to the earliest next step (negative if overdue)."""
    value = await conn.fetchval(NEXT_DUE)
    return None if value is None else float(value)


# Every pending timer has a next step (its warning or its due time), so the count reads the
# narrow partial index of timers with something left to fire, not the whole table of ended ones.
COUNT_PENDING = "SELECT count(*) FROM sla.timers WHERE next_at IS NOT NULL AND state = 'pending'"


async def count_pending(conn: asyncpg.Connection) -> int:
    return int(await conn.fetchval(COUNT_PENDING))
