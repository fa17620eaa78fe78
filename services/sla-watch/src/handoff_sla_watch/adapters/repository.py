"""Read and write timers: a batch's timers in one statement each; due ones claimed SKIP LOCKED."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from handoff_sla_watch.domain.model import Timer, TimerState

_NAMES = (
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
)
_COLUMNS = ", ".join(_NAMES)
_UPDATED_COLUMNS = ", ".join(f"t.{name}" for name in _NAMES)


def _timer(row: Any) -> Timer:
    return Timer(
        timer_id=row.timer_id,
        lead_id=row.lead_id,
        handoff_id=row.handoff_id,
        policy=row.policy,
        stage=row.stage,
        state=TimerState(row.state),
        rep_id=row.rep_id,
        pool=row.pool,
        started_at=row.started_at,
        due_at=row.due_at,
        fired_at=row.fired_at,
        stopped_at=row.stopped_at,
    )


async def load(conn: AsyncConnection, timer_ids: Iterable[str]) -> dict[str, Timer]:
    """The timers that exist, locked so the firer cannot breach one while it is being stopped."""
    ids = sorted(set(timer_ids))
    if not ids:
        return {}
    result = await conn.execute(
        text(
            f"SELECT {_COLUMNS} FROM sla.timers WHERE timer_id = ANY(CAST(:ids AS text[])) "
            "ORDER BY timer_id FOR UPDATE"
        ),
        {"ids": ids},
    )
    return {row.timer_id: _timer(row) for row in result}


async def insert(conn: AsyncConnection, timers: Iterable[Timer]) -> set[str]:
    """Add new timers and tombstones; return the ids actually inserted.

    A row that already exists wins (ON CONFLICT DO NOTHING): it is a tombstone or a
    timer another instance wrote during a partition rebalance, and must not be re-armed.
    """
    rows = list(timers)
    if not rows:
        return set()
    result = await conn.execute(
        text(
            "INSERT INTO sla.timers (timer_id, lead_id, handoff_id, rep_id, pool, policy, stage, "
            "started_at, due_at, state, stopped_at) "
            "SELECT * FROM unnest(CAST(:ids AS text[]), CAST(:leads AS text[]), "
            "CAST(:handoffs AS text[]), CAST(:reps AS text[]), CAST(:pools AS text[]), "
            "CAST(:policies AS text[]), CAST(:stages AS text[]), CAST(:started AS timestamptz[]), "
            "CAST(:due AS timestamptz[]), CAST(:states AS text[]), "
            "CAST(:stopped AS timestamptz[])) "
            "ON CONFLICT DO NOTHING RETURNING timer_id"
        ),
        {
            "ids": [t.timer_id for t in rows],
            "leads": [t.lead_id for t in rows],
            "handoffs": [t.handoff_id for t in rows],
            "reps": [t.rep_id for t in rows],
            "pools": [t.pool for t in rows],
            "policies": [t.policy for t in rows],
            "stages": [t.stage for t in rows],
            "started": [t.started_at for t in rows],
            "due": [t.due_at for t in rows],
            "states": [t.state.value for t in rows],
            "stopped": [t.stopped_at for t in rows],
        },
    )
    return {row.timer_id for row in result}


async def save_stops(conn: AsyncConnection, timers: Iterable[Timer]) -> None:
    """Write back the state and stop time of timers that `load` locked."""
    rows = list(timers)
    if not rows:
        return
    await conn.execute(
        text(
            "UPDATE sla.timers AS t SET state = s.state, stopped_at = s.stopped_at "
            "FROM unnest(CAST(:ids AS text[]), CAST(:states AS text[]), "
            "CAST(:stopped AS timestamptz[])) "
            "AS s(timer_id, state, stopped_at) WHERE t.timer_id = s.timer_id"
        ),
        {
            "ids": [t.timer_id for t in rows],
            "states": [t.state.value for t in rows],
            "stopped": [t.stopped_at for t in rows],
        },
    )


async def claim_due(conn: AsyncConnection, now: datetime | None, limit: int) -> list[Timer]:
    """Mark up to `limit` due timers breached, oldest due first, and return them.

    SKIP LOCKED lets several instances (and a consumer stopping a timer) work the same
    table: a row locked by one is invisible to the others' claim, so it fires once.
    `now` defaults to the database's clock.
    """
    result = await conn.execute(
        text(
            "WITH due AS ("
            "  SELECT timer_id FROM sla.timers"
            "  WHERE state = 'pending' AND due_at <= coalesce(CAST(:now AS timestamptz), now())"
            "  ORDER BY due_at LIMIT :limit FOR UPDATE SKIP LOCKED"
            ") "
            "UPDATE sla.timers AS t SET state = 'breached', "
            "fired_at = coalesce(CAST(:now AS timestamptz), now()), attempts = t.attempts + 1 "
            f"FROM due WHERE t.timer_id = due.timer_id RETURNING {_UPDATED_COLUMNS}"
        ),
        {"now": now, "limit": limit},
    )
    return sorted((_timer(row) for row in result), key=lambda t: (t.due_at, t.timer_id))


async def seconds_until_next_due(conn: AsyncConnection) -> float | None:
    """Seconds from the database's now to the earliest pending due time (negative if overdue)."""
    value = (
        await conn.execute(
            text(
                "SELECT EXTRACT(EPOCH FROM min(due_at) - now()) "
                "FROM sla.timers WHERE state = 'pending'"
            )
        )
    ).scalar()
    return None if value is None else float(value)


async def count_pending(conn: AsyncConnection) -> int:
    return int(
        (
            await conn.execute(text("SELECT count(*) FROM sla.timers WHERE state = 'pending'"))
        ).scalar_one()
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
