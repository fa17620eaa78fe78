"""The timer repository: a batch's timers (SQLAlchemy, one statement each) and, for the firer's
hot path, the due timers over a raw asyncpg connection (claimed SKIP LOCKED).

A burst of a hundred thousand due timers is the hot path: SQLAlchemy's per-row result
handling cost six times the query itself there, so `DueTimers` speaks to asyncpg directly,
inside a transaction its caller opens: a SKIP LOCKED claim, then one statement that writes
the batch back and inserts its events (built by events_out) into the outbox.
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
            f"INSERT INTO sla.timers ({_COLUMNS}) SELECT * FROM unnest({_UNNEST}) "
            "ON CONFLICT DO NOTHING RETURNING timer_id"
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
    await conn.execute(
        text(
            f"UPDATE sla.timers AS t SET {assignments} "
            f"FROM unnest({_UNNEST}) AS s({_COLUMNS}) WHERE t.timer_id = s.timer_id"
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
    """Breached timers nobody has answered yet, oldest due first."""
    result = await conn.execute(
        text(
            f"SELECT {_COLUMNS} FROM sla.timers WHERE state = 'breached' "
            "AND (CAST(:rep_id AS text) IS NULL OR rep_id = :rep_id) "
            "AND (CAST(:pool AS text) IS NULL OR pool = :pool) "
            "ORDER BY due_at, timer_id LIMIT :limit"
        ),
        {"rep_id": rep_id, "pool": pool, "limit": limit},
    )
    return [_timer(row) for row in result]


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
        )

    async def seconds_until_next_due(self) -> float | None:
        """Seconds from the database's now to the earliest next step (negative if overdue)."""
        value = await self.conn.fetchval(NEXT_DUE)
        return None if value is None else float(value)

    async def count_pending(self) -> int:
        return int(await self.conn.fetchval(COUNT_PENDING))


# Every pending timer has a next step (its warning or its due time), so the count reads the
# narrow partial index of timers with something left to fire, not the whole table of ended ones.
COUNT_PENDING = "SELECT count(*) FROM sla.timers WHERE next_at IS NOT NULL AND state = 'pending'"
