"""The handoffs repository: handoffs, the pools' round-robin pointers and the reps' loads; per-batch
work is one statement per step, never one per event."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from pydantic_core import to_json
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from handoff.messaging.producer import Message
from handoff_routing.adapters import decision_codec
from handoff_routing.domain.handoff import Handoff, HandoffState
from handoff_routing.domain.roster import Load

_FIELDS = (
    "handoff_id",
    "lead_id",
    "mql_id",
    "attempt",
    "state",
    "rep_id",
    "pool",
    "rule",
    "created_at",
    "updated_at",
    "assigned_at",
    "decision",
    "reason_code",
    "note",
    "follow_up",
    "outcome",
    "recycle_until",
    "channel",
    "excluded",
    "facts",
    "trigger",
    "fit_grade",
    "next_handoff_id",
)
_COLUMNS = ", ".join(_FIELDS)
_TYPES = {
    "attempt": "int",
    "created_at": "timestamptz",
    "updated_at": "timestamptz",
    "assigned_at": "timestamptz",
    "recycle_until": "timestamptz",
    "decision": "jsonb",
    "facts": "jsonb",
}
# What a new handoff carries; the rest starts empty (fewer arrays to send per batch).
_NEW = (
    "handoff_id",
    "lead_id",
    "mql_id",
    "attempt",
    "state",
    "rep_id",
    "pool",
    "rule",
    "created_at",
    "updated_at",
    "assigned_at",
    "decision",
    "excluded",
    "facts",
    "trigger",
    "fit_grade",
)
# What an action may change on an existing handoff.
_MUTABLE = (
    "state",
    "rep_id",
    "pool",
    "rule",
    "updated_at",
    "assigned_at",
    "decision",
    "reason_code",
    "note",
    "follow_up",
    "outcome",
    "recycle_until",
    "channel",
    "next_handoff_id",
)


def _handoff(row: Any) -> Handoff:
    return Handoff(
        handoff_id=row.handoff_id,
        lead_id=row.lead_id,
        mql_id=row.mql_id,
        attempt=row.attempt,
        state=HandoffState(row.state),
        rep_id=row.rep_id,
        pool=row.pool,
        rule=row.rule,
        created_at=row.created_at,
        updated_at=row.updated_at,
        assigned_at=row.assigned_at,
        decision=decision_codec.decode(row.decision),
        reason_code=row.reason_code,
        note=row.note,
        follow_up=row.follow_up,
        outcome=row.outcome,
        recycle_until=row.recycle_until,
        channel=row.channel,
        excluded=tuple(row.excluded or ()),
        facts=dict(row.facts or {}),
        trigger=row.trigger,
        fit_grade=row.fit_grade,
        next_handoff_id=row.next_handoff_id,
    )


# Decision steps already encoded for a handoff's event (decision_codec.encode), by handoff id:
# the row reuses them rather than encoding the same steps a second time.
EncodedSteps = Mapping[str, list[dict[str, Any]]]


def _steps(h: Handoff, encoded: EncodedSteps) -> list[dict[str, Any]]:
    steps = encoded.get(h.handoff_id)
    return decision_codec.encode(h.decision) if steps is None else steps


def _value(h: Handoff, name: str, encoded: EncodedSteps) -> Any:
    if name == "decision":
        return json.dumps(_steps(h, encoded), ensure_ascii=False)
    if name == "facts":
        return json.dumps(h.facts, ensure_ascii=False)
    if name == "excluded":
        return json.dumps(list(h.excluded))
    value = getattr(h, name)
    return str(value) if name == "state" else value


def _arrays(
    handoffs: Sequence[Handoff], names: Sequence[str], encoded: EncodedSteps
) -> dict[str, list[Any]]:
    return {name: [_value(h, name, encoded) for h in handoffs] for name in names}


def _unnest(names: Sequence[str]) -> str:
    return ", ".join(f"CAST(:{n} AS {_TYPES.get(n, 'text')}[])" for n in names)


async def existing_ids(conn: AsyncConnection, handoff_ids: Iterable[str]) -> set[str]:
    """Those of the handoff ids given that exist (an index lookup each, on the primary key)."""
    ids = list(set(handoff_ids))
    if not ids:
        return set()
    result = await conn.execute(
        text(
            "SELECT handoff_id FROM routing.handoffs WHERE handoff_id = ANY(CAST(:ids AS text[]))"
        ),
        {"ids": ids},
    )
    return set(result.scalars())


async def lock_pointers(conn: AsyncConnection, pools: Iterable[str]) -> dict[str, int]:
    """Each pool's round-robin position, locked until the transaction ends; new pools start at 0.

    Routing decisions of every instance pass through these locks, so two batches never give
    out the same turn and loads read after the lock include every earlier batch.
    """
    names = sorted(set(pools))
    if not names:
        return {}
    select = text(
        "SELECT pool, position FROM routing.pool_pointers "
        "WHERE pool = ANY(CAST(:names AS text[])) ORDER BY pool FOR UPDATE"
    )
    found = {row.pool: row.position for row in await conn.execute(select, {"names": names})}
    if len(found) == len(names):
        return found  # the usual case: one statement per batch
    await conn.execute(
        text(
            "INSERT INTO routing.pool_pointers (pool, position) "
            "SELECT unnest(CAST(:names AS text[])), 0 ON CONFLICT (pool) DO NOTHING"
        ),
        {"names": names},
    )
    return {row.pool: row.position for row in await conn.execute(select, {"names": names})}


async def save_pointers(conn: AsyncConnection, pointers: Mapping[str, int]) -> None:
    if not pointers:
        return
    await conn.execute(
        text(
            "UPDATE routing.pool_pointers AS p SET position = v.position "
            "FROM unnest(CAST(:names AS text[]), CAST(:positions AS int[])) AS v(pool, position) "
            "WHERE p.pool = v.pool"
        ),
        {"names": list(pointers), "positions": list(pointers.values())},
    )


async def loads(
    conn: AsyncConnection, day_starts: Mapping[str, datetime], *, open_: bool, today: bool
) -> dict[str, Load]:
    """Open handoffs and assignments since each rep's local midnight, for the reps given."""
    out = {rep: Load() for rep in day_starts}
    if not day_starts or not (open_ or today):
        return out
    open_sql = (
        "(SELECT count(*) FROM routing.handoffs h WHERE h.rep_id = v.rep AND h.state = 'assigned')"
        if open_
        else "0"
    )
    today_sql = (
        "(SELECT count(*) FROM routing.handoffs h WHERE h.rep_id = v.rep "
        "AND h.assigned_at >= v.since)"
        if today
        else "0"
    )
    result = await conn.execute(
        text(
            f"SELECT v.rep, {open_sql} AS open, {today_sql} AS today "
            "FROM unnest(CAST(:reps AS text[]), CAST(:since AS timestamptz[])) AS v(rep, since)"
        ),
        {"reps": list(day_starts), "since": list(day_starts.values())},
    )
    for row in result:
        out[row.rep] = Load(row.open, row.today)
    return out


# A new handoff's columns with their types, as jsonb_to_recordset reads them.
_NEW_TYPES = ", ".join(
    f"{n} {'text[]' if n == 'excluded' else _TYPES.get(n, 'text')}" for n in _NEW
)


def _new_row(h: Handoff, encoded: EncodedSteps) -> dict[str, Any]:
    return {
        "handoff_id": h.handoff_id,
        "lead_id": h.lead_id,
        "mql_id": h.mql_id,
        "attempt": h.attempt,
        "state": h.state.value,
        "rep_id": h.rep_id,
        "pool": h.pool,
        "rule": h.rule,
        "created_at": h.created_at,
        "updated_at": h.updated_at,
        "assigned_at": h.assigned_at,
        "decision": _steps(h, encoded),
        "excluded": list(h.excluded),
        "facts": h.facts,
        "trigger": h.trigger,
        "fit_grade": h.fit_grade,
    }


async def insert_with_events(
    conn: AsyncConnection,
    handoffs: Sequence[Handoff],
    pointers: Mapping[str, int],
    events: Sequence[tuple[str | None, Message]],
    encoded: EncodedSteps | None = None,
) -> set[str]:
    """Insert new handoffs (skipping any that exist; returns the ids inserted), save the pool
    pointers and append the events to the outbox, in one statement (one round trip
    instead of three: per-batch round trips set the latency at low rates).

    An event tied to a handoff id is written only if that handoff was inserted here, so a
    handoff another instance inserted first is not announced twice; outbox ids follow the
    order of `events`, which keeps each lead's events in order. `encoded`: decision steps
    already encoded for the events, reused for the rows.
    """
    encoded = encoded or {}
    columns = ", ".join(_NEW)
    result = await conn.execute(
        text(
            f"WITH ins AS (INSERT INTO routing.handoffs ({columns}) SELECT {columns} "
            f"FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS v({_NEW_TYPES}) "
            "ON CONFLICT DO NOTHING RETURNING handoff_id), "
            "ptr AS (UPDATE routing.pool_pointers AS p SET position = v.position "
            "FROM unnest(CAST(:names AS text[]), CAST(:positions AS int[])) AS v(pool, position) "
            "WHERE p.pool = v.pool), "
            "ob AS (INSERT INTO routing.outbox (topic, key, value) "
            "SELECT e.topic, e.key, e.value FROM unnest(CAST(:hids AS text[]), "
            "CAST(:topics AS text[]), CAST(:keys AS bytea[]), CAST(:values AS bytea[])) "
            "WITH ORDINALITY AS e(hid, topic, key, value, n) "
            "WHERE e.hid IS NULL OR e.hid IN (SELECT handoff_id FROM ins) ORDER BY e.n) "
            "SELECT handoff_id FROM ins"
        ),
        {
            "rows": to_json([_new_row(h, encoded) for h in handoffs]).decode(),
            "names": list(pointers),
            "positions": list(pointers.values()),
            "hids": [hid for hid, _ in events],
            "topics": [m.topic for _, m in events],
            "keys": [m.key for _, m in events],
            "values": [m.value for _, m in events],
        },
    )
    return set(result.scalars())


async def update_many(
    conn: AsyncConnection, handoffs: Sequence[Handoff], encoded: EncodedSteps | None = None
) -> None:
    """Write back what actions changed, for many handoffs in one statement (`encoded`: decision
    steps already encoded for their events)."""
    if not handoffs:
        return
    names = ("handoff_id", *_MUTABLE)
    sets = ", ".join(f"{n} = v.{n}" for n in _MUTABLE)
    await conn.execute(
        text(
            f"UPDATE routing.handoffs AS h SET {sets} "
            f"FROM unnest({_unnest(names)}) AS v({', '.join(names)}) "
            "WHERE h.handoff_id = v.handoff_id"
        ),
        _arrays(handoffs, names, encoded or {}),
    )


async def get(
    conn: AsyncConnection, handoff_id: str, *, for_update: bool = False
) -> Handoff | None:
    found = await get_many(conn, [handoff_id], for_update=for_update)
    return found.get(handoff_id)


async def get_many(
    conn: AsyncConnection, handoff_ids: Iterable[str], *, for_update: bool = False
) -> dict[str, Handoff]:
    ids = sorted(set(handoff_ids))
    if not ids:
        return {}
    lock = " ORDER BY handoff_id FOR UPDATE" if for_update else ""
    rows = await conn.execute(
        text(
            f"SELECT {_COLUMNS} FROM routing.handoffs "
            f"WHERE handoff_id = ANY(CAST(:ids AS text[])){lock}"
        ),
        {"ids": ids},
    )
    return {row.handoff_id: _handoff(row) for row in rows}


async def latest_for_lead(conn: AsyncConnection, lead_id: str) -> Handoff | None:
    row = (
        await conn.execute(
            text(
                f"SELECT {_COLUMNS} FROM routing.handoffs WHERE lead_id = :lead "
                "ORDER BY created_at DESC, attempt DESC, handoff_id DESC LIMIT 1"
            ),
            {"lead": lead_id},
        )
    ).first()
    return None if row is None else _handoff(row)


async def queued(conn: AsyncConnection, limit: int) -> list[Handoff]:
    """Handoffs waiting in a pool's queue, oldest first, locked for this transaction."""
    rows = await conn.execute(
        text(
            f"SELECT {_COLUMNS} FROM routing.handoffs WHERE state = 'unassigned' "
            "ORDER BY seq LIMIT :limit FOR UPDATE"
        ),
        {"limit": limit},
    )
    return [_handoff(row) for row in rows]


async def has_queued(conn: AsyncConnection) -> bool:
    return bool(
        await conn.scalar(
            text("SELECT EXISTS (SELECT 1 FROM routing.handoffs WHERE state = 'unassigned')")
        )
    )
