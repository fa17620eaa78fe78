"""The timer repository: a batch's timers (SQLAlchemy, one statement each) and, for the firer's
hot path, the due timers over a raw asyncpg connection (claimed SKIP LOCKED).

What is due lives in `sla.due`, one narrow row per timer with a step left to fire; every
write of a timer here writes its queue row in the same statement, so the two never part.
A burst of a hundred thousand due timers is the hot path: SQLAlchemy's per-row result
handling cost six times the query itself there, so `DueTimers` speaks to asyncpg directly,
inside a transaction its caller opens: a SKIP LOCKED claim of queue rows and their timers,
then one statement that writes the batch back (a HOT update: no index of the timer row reads
what firing changes), deletes or moves their queue rows and inserts their events (built by
events_out) into the outbox.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import asyncpg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from handoff_sla_watch.domain.model import Timer, TimerState

# (column, SQL array type); timer_id first. Every column is written from the domain's Timer.
_FIELDS = (
    ("timer_id", "text"),
    ("lead_id", "text"),
    ("handoff_id", "text"),
    ("rep_id", "text"),
    ("pool", "text"),
    ("policy", "text"),
    ("stage", "text"),
    ("started_at", "timestamptz"),
    ("due_at", "timestamptz"),
    ("state", "text"),
    ("fired_at", "timestamptz"),
    ("stopped_at", "timestamptz"),
    ("next_at", "timestamptz"),
    ("escalation_level", "int"),
    ("attempts", "int"),
    ("mql_trigger", "text"),
    ("fit_grade", "text"),
    ("team", "text"),
    ("manager_id", "text"),
)
_NAMES = tuple(name for name, _ in _FIELDS)
_COLUMNS = ", ".join(_NAMES)
_UNNEST = ", ".join(f"CAST(:{name} AS {kind}[])" for name, kind in _FIELDS)


# A timer's queue row: running (pending or breached, not a tombstone) with a next step.
_QUEUED = (
    "{t}.next_at IS NOT NULL AND {t}.due_at IS NOT NULL AND {t}.state IN ('pending', 'breached')"
)
# Which step is next: the warning, the breach, or an escalation of a breach.
_KIND = (
    "CASE WHEN {t}.state = 'breached' THEN 'escalation' "
    "WHEN {t}.next_at < {t}.due_at THEN 'warning' ELSE 'breach' END"
)


def due_kind(t: Timer) -> str:
    """The kind of `t`'s next step, as `sla.due.kind` stores it (the same rule as _KIND)."""
    if t.state is TimerState.BREACHED:
        return "escalation"
    assert t.next_at is not None and t.due_at is not None
    return "warning" if t.next_at < t.due_at else "breach"


def _timer(row: Any) -> Timer:
    values = {name: getattr(row, name) for name in _NAMES}
    values["state"] = TimerState(values["state"])
    return Timer(**values)


def _columns(rows: list[Timer]) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {name: [getattr(t, name) for t in rows] for name in _NAMES}
    out["state"] = [t.state.value for t in rows]
    return out


async def lock_for_handoffs(conn: AsyncConnection, handoff_ids: Iterable[str]) -> dict[str, Timer]:
    """Every timer of these handoffs, locked so the firer cannot fire one being stopped."""
    ids = sorted(set(handoff_ids))
    if not ids:
        return {}
    result = await conn.execute(
        text(
            f"SELECT {_COLUMNS} FROM sla.timers WHERE handoff_id = ANY(CAST(:ids AS text[])) "
            "ORDER BY timer_id FOR UPDATE"
        ),
        {"ids": ids},
    )
    return {row.timer_id: _timer(row) for row in result}


async def insert_new(conn: AsyncConnection, timers: Iterable[Timer]) -> set[str]:
    """Add new timers and tombstones; return the ids actually inserted.

    A row that already exists wins (ON CONFLICT DO NOTHING): it is a tombstone or a
    timer another instance wrote during a partition rebalance, and must not be re-armed.
    """
    rows = list(timers)
    if not rows:
        return set()
    result = await conn.execute(
        text(
            f"WITH ins AS (INSERT INTO sla.timers ({_COLUMNS}) SELECT * FROM unnest({_UNNEST}) "
            "ON CONFLICT DO NOTHING RETURNING timer_id, state, due_at, next_at), "
            "queued AS (INSERT INTO sla.due (timer_id, next_at, kind) "
            f"SELECT i.timer_id, i.next_at, {_KIND.format(t='i')} FROM ins AS i "
            f"WHERE {_QUEUED.format(t='i')}) "
            "SELECT timer_id FROM ins"
        ),
        _columns(rows),
    )
    return {row.timer_id for row in result}


async def save(conn: AsyncConnection, timers: Iterable[Timer]) -> None:
    """Write back timers this transaction has locked (by `lock_for_handoffs` or `DueTimers.claim`)."""
    rows = list(timers)
    if not rows:
        return
    assignments = ", ".join(f"{name} = s.{name}" for name in _NAMES[1:])
    # The queue row follows: gone when nothing is left to fire, else (re)set to the next step.
    await conn.execute(
        text(
            f"WITH saved AS (UPDATE sla.timers AS t SET {assignments} "
            f"FROM unnest({_UNNEST}) AS s({_COLUMNS}) WHERE t.timer_id = s.timer_id "
            "RETURNING t.timer_id, t.state, t.due_at, t.next_at), "
            "gone AS (DELETE FROM sla.due WHERE timer_id = ANY(ARRAY("
            f"SELECT g.timer_id FROM saved AS g WHERE NOT ({_QUEUED.format(t='g')})))) "
            "INSERT INTO sla.due AS d (timer_id, next_at, kind) "
            f"SELECT q.timer_id, q.next_at, {_KIND.format(t='q')} FROM saved AS q "
            f"WHERE {_QUEUED.format(t='q')} "
            "ON CONFLICT (timer_id) DO UPDATE SET next_at = excluded.next_at, kind = excluded.kind "
            "WHERE (d.next_at, d.kind) IS DISTINCT FROM (excluded.next_at, excluded.kind)"
        ),
        _columns(rows),
    )


async def for_lead(conn: AsyncConnection, lead_id: str) -> list[Timer]:
    result = await conn.execute(
        text(
            f"SELECT {_COLUMNS} FROM sla.timers WHERE lead_id = :lead_id "
            "ORDER BY started_at NULLS LAST, stage, timer_id"
        ),
        {"lead_id": lead_id},
    )
    return [_timer(row) for row in result]


async def open_breaches(
    conn: AsyncConnection, *, rep_id: str | None, pool: str | None, limit: int
) -> list[Timer]:
    """Breached timers nobody has answered yet, oldest due first.

    Read through `timers_open_due` (unstopped timers by due time); a breach is due no later
    than the database's now, so the scan stops there, before the timers still pending.
    """
    result = await conn.execute(
        text(
            f"SELECT {_COLUMNS} FROM sla.timers WHERE state = 'breached' "
            "AND stopped_at IS NULL AND due_at IS NOT NULL AND due_at <= now() "
            "AND (CAST(:rep_id AS text) IS NULL OR rep_id = :rep_id) "
            "AND (CAST(:pool AS text) IS NULL OR pool = :pool) "
            "ORDER BY due_at, timer_id LIMIT :limit"
        ),
        {"rep_id": rep_id, "pool": pool, "limit": limit},
    )
    return [_timer(row) for row in result]


# In Timer's positional order, so a row builds a Timer without keyword matching. The queue rows
# due first are locked, then their timers: one a consumer is stopping (locked) is skipped and
# its queue row left for later, so a timer fires once and never after its stop.
# The ids come as an array (one index probe each), never as a join the planner might turn into
# a scan of the wide table when a prepared statement's limit is a parameter.
CLAIM = (
    "SELECT timer_id, lead_id, handoff_id, policy, stage, state, rep_id, pool, started_at, "
    "due_at, fired_at, stopped_at, next_at, escalation_level, attempts, manager_id, "
    "coalesce($1::timestamptz, now()) AS used_now "
    "FROM sla.timers WHERE timer_id = ANY(ARRAY("
    " SELECT timer_id FROM sla.due WHERE next_at <= coalesce($1::timestamptz, now())"
    " ORDER BY next_at LIMIT $2 FOR UPDATE SKIP LOCKED"
    ")) ORDER BY next_at FOR UPDATE SKIP LOCKED"
)
# One statement per batch: write back what firing changed (a HOT update), delete the queue row
# of a timer with nothing left to fire (as a claim-and-delete queue does) or move it to the
# next step, and outbox every fired step.
FIRE = (
    "WITH saved AS ("
    " UPDATE sla.timers AS t SET state = s.state, fired_at = s.fired_at, next_at = s.next_at,"
    " escalation_level = s.escalation_level, attempts = s.attempts"
    " FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::timestamptz[], $5::int[],"
    " $6::int[]) AS s(timer_id, state, fired_at, next_at, escalation_level, attempts)"
    " WHERE t.timer_id = s.timer_id"
    "), gone AS (DELETE FROM sla.due WHERE timer_id = ANY($10::text[])"
    "), moved AS ("
    " UPDATE sla.due AS d SET next_at = m.next_at, kind = m.kind"
    " FROM unnest($11::text[], $12::timestamptz[], $13::text[]) AS m(timer_id, next_at, kind)"
    " WHERE d.timer_id = m.timer_id"
    ") INSERT INTO sla.outbox (topic, key, value)"
    " SELECT $7, m.key, m.value FROM unnest($8::bytea[], $9::bytea[]) WITH ORDINALITY"
    " AS m(key, value, n) ORDER BY m.n"
)
NEXT_DUE = "SELECT EXTRACT(EPOCH FROM (SELECT min(next_at) FROM sla.due) - clock_timestamp())"


class DueTimers:
    """The firer's view of the timers, on one raw asyncpg connection; never commits.

    Every method runs inside the transaction the caller (the firer loop) opens on `conn`.
    """

    __slots__ = ("conn",)

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def claim(self, now: datetime | None, limit: int) -> tuple[list[Timer], datetime | None]:
        """Lock up to `limit` timers whose next step is due, earliest first, and the time used.

        SKIP LOCKED lets several instances (and a consumer stopping a timer) work the same
        table: a row locked by one is invisible to the others' claim, so it fires once.
        `now` defaults to the database's clock, so instances on several hosts agree.
        """
        rows = await self.conn.fetch(CLAIM, now, limit)
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
        self, timers: Sequence[Timer], topic: str, keys: list[bytes], values: list[bytes]
    ) -> None:
        """Write back timers `claim` locked, and add their events to the outbox, in order."""
        if not timers:
            return
        moved = [t for t in timers if t.next_at is not None and t.is_running]
        await self.conn.execute(
            FIRE,
            [t.timer_id for t in timers],
            [t.state.value for t in timers],
            [t.fired_at for t in timers],
            [t.next_at for t in timers],
            [t.escalation_level for t in timers],
            [t.attempts for t in timers],
            topic,
            keys,
            values,
            [t.timer_id for t in timers if t.next_at is None or not t.is_running],
            [t.timer_id for t in moved],
            [t.next_at for t in moved],
            [due_kind(t) for t in moved],
        )

    async def seconds_until_next_due(self) -> float | None:
        """Seconds from the database's now to the earliest next step (negative if overdue)."""
        value = await self.conn.fetchval(NEXT_DUE)
        return None if value is None else float(value)

    async def count_pending(self) -> int:
        return int(await self.conn.fetchval(COUNT_PENDING))


# Every pending timer has a queue row for its warning or its breach (a breach's escalations are
# the other kind), so the count reads the narrow queue, not the wide table of ended timers.
COUNT_PENDING = "SELECT count(*) FROM sla.due WHERE kind <> 'escalation'"
