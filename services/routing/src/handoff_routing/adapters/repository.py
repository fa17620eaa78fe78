"""Read and write handoffs and pool pointers; per-batch work is one statement per step."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from handoff_routing.domain.decision import DecisionStep
from handoff_routing.domain.handoff import Handoff, HandoffState
from handoff_routing.domain.roster import Candidate

_COLUMNS = (
    "handoff_id, lead_id, mql_id, state, rep_id, pool, rule, created_at, updated_at, assigned_at, "
    "decision, reason_code, note"
)


def decision_out(steps: Sequence[DecisionStep]) -> str:
    return json.dumps([asdict(s) for s in steps], separators=(",", ":"), ensure_ascii=False)


def decision_in(raw: list[dict[str, Any]]) -> tuple[DecisionStep, ...]:
    return tuple(
        DecisionStep(
            rule=s["rule"],
            matched=s["matched"],
            pool=s.get("pool"),
            candidates=tuple(
                Candidate(c["rep_id"], c.get("skipped")) for c in s.get("candidates", ())
            ),
            note=s.get("note"),
        )
        for s in raw
    )


def _handoff(row: Any) -> Handoff:
    return Handoff(
        handoff_id=row.handoff_id,
        lead_id=row.lead_id,
        mql_id=row.mql_id,
        state=HandoffState(row.state),
        rep_id=row.rep_id,
        pool=row.pool,
        rule=row.rule,
        created_at=row.created_at,
        updated_at=row.updated_at,
        assigned_at=row.assigned_at,
        decision=decision_in(row.decision),
        reason_code=row.reason_code,
        note=row.note,
    )


async def known_mql_ids(conn: AsyncConnection, mql_ids: Iterable[str]) -> set[str]:
    """The MQLs that already have a handoff: a replayed MQL is never routed twice."""
    ids = list(set(mql_ids))
    if not ids:
        return set()
    result = await conn.execute(
        text("SELECT mql_id FROM routing.handoffs WHERE mql_id = ANY(CAST(:ids AS text[]))"),
        {"ids": ids},
    )
    return set(result.scalars())


async def lock_pointers(conn: AsyncConnection, pools: Iterable[str]) -> dict[str, int]:
    """Each pool's round-robin position, locked until the transaction ends; new pools start at 0."""
    names = sorted(set(pools))
    if not names:
        return {}
    await conn.execute(
        text(
            "INSERT INTO routing.pool_pointers (pool, position) "
            "SELECT unnest(CAST(:names AS text[])), 0 ON CONFLICT (pool) DO NOTHING"
        ),
        {"names": names},
    )
    result = await conn.execute(
        text(
            "SELECT pool, position FROM routing.pool_pointers "
            "WHERE pool = ANY(CAST(:names AS text[])) ORDER BY pool FOR UPDATE"
        ),
        {"names": names},
    )
    return {row.pool: row.position for row in result}


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


async def insert_new(conn: AsyncConnection, handoffs: Sequence[Handoff]) -> set[str]:
    """Insert handoffs, skipping any whose MQL already has one; return the ids actually inserted."""
    if not handoffs:
        return set()
    result = await conn.execute(
        text(
            f"INSERT INTO routing.handoffs ({_COLUMNS}) "
            "SELECT * FROM unnest(CAST(:ids AS text[]), CAST(:leads AS text[]), "
            "CAST(:mqls AS text[]), CAST(:states AS text[]), CAST(:reps AS text[]), "
            "CAST(:pools AS text[]), CAST(:rules AS text[]), CAST(:created AS timestamptz[]), "
            "CAST(:updated AS timestamptz[]), CAST(:assigned AS timestamptz[]), "
            "CAST(:decisions AS jsonb[]), CAST(:reasons AS text[]), CAST(:notes AS text[])) "
            "ON CONFLICT DO NOTHING RETURNING handoff_id"
        ),
        {
            "ids": [h.handoff_id for h in handoffs],
            "leads": [h.lead_id for h in handoffs],
            "mqls": [h.mql_id for h in handoffs],
            "states": [str(h.state) for h in handoffs],
            "reps": [h.rep_id for h in handoffs],
            "pools": [h.pool for h in handoffs],
            "rules": [h.rule for h in handoffs],
            "created": [h.created_at for h in handoffs],
            "updated": [h.updated_at for h in handoffs],
            "assigned": [h.assigned_at for h in handoffs],
            "decisions": [decision_out(h.decision) for h in handoffs],
            "reasons": [h.reason_code for h in handoffs],
            "notes": [h.note for h in handoffs],
        },
    )
    return set(result.scalars())


async def get(
    conn: AsyncConnection, handoff_id: str, *, for_update: bool = False
) -> Handoff | None:
    lock = " FOR UPDATE" if for_update else ""
    row = (
        await conn.execute(
            text(f"SELECT {_COLUMNS} FROM routing.handoffs WHERE handoff_id = :id{lock}"),
            {"id": handoff_id},
        )
    ).first()
    return None if row is None else _handoff(row)


async def latest_for_lead(conn: AsyncConnection, lead_id: str) -> Handoff | None:
    row = (
        await conn.execute(
            text(
                f"SELECT {_COLUMNS} FROM routing.handoffs WHERE lead_id = :lead "
                "ORDER BY created_at DESC, handoff_id DESC LIMIT 1"
            ),
            {"lead": lead_id},
        )
    ).first()
    return None if row is None else _handoff(row)


async def update_state(conn: AsyncConnection, handoff: Handoff) -> None:
    await conn.execute(
        text(
            "UPDATE routing.handoffs SET state = :state, rep_id = :rep, reason_code = :reason, "
            "note = :note, updated_at = :updated WHERE handoff_id = :id"
        ),
        {
            "id": handoff.handoff_id,
            "state": str(handoff.state),
            "rep": handoff.rep_id,
            "reason": handoff.reason_code,
            "note": handoff.note,
            "updated": handoff.updated_at,
        },
    )
