"""Read and write timers: a batch's timers in one statement each; due ones claimed SKIP LOCKED."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

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


async def load(conn: AsyncConnection, handoff_ids: Iterable[str]) -> dict[str, Timer]:
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
            f"INSERT INTO sla.timers ({_COLUMNS}) SELECT * FROM unnest({_UNNEST}) "
            "ON CONFLICT DO NOTHING RETURNING timer_id"
        ),
        _columns(rows),
    )
    return {row.timer_id for row in result}


async def save(conn: AsyncConnection, timers: Iterable[Timer]) -> None:
    """Write back timers this transaction has locked (by `load` or `claim_due`)."""
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
