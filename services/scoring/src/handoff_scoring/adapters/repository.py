"""Load and save lead scores for a whole batch in one statement each."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from handoff_scoring.domain.model import LeadScore, Tally


def _tallies_out(tallies: dict[str, Tally]) -> str:
    return json.dumps(
        {k: [t.count, t.points, t.last_seen.isoformat()] for k, t in tallies.items()},
        separators=(",", ":"),
    )


def _tallies_in(raw: dict[str, list[Any]]) -> dict[str, Tally]:
    return {k: Tally(int(v[0]), int(v[1]), datetime.fromisoformat(v[2])) for k, v in raw.items()}


def _lead(row: Any) -> LeadScore:
    return LeadScore(
        lead_id=row.lead_id,
        score=row.score,
        tallies=_tallies_in(row.tallies),
        traits=row.traits,
        cycle=row.cycle,
        qualified_at=row.qualified_at,
        updated_at=row.updated_at,
    )


async def load(conn: AsyncConnection, lead_ids: Iterable[str]) -> dict[str, LeadScore]:
    """The leads that exist, locked for this transaction (two instances never interleave a lead)."""
    ids = sorted(set(lead_ids))
    result = await conn.execute(
        text(
            "SELECT lead_id, score, tallies, traits, cycle, qualified_at, updated_at "
            "FROM scoring.leads WHERE lead_id = ANY(CAST(:ids AS text[])) ORDER BY lead_id FOR UPDATE"
        ),
        {"ids": ids},
    )
    return {row.lead_id: _lead(row) for row in result}


async def get(
    conn: AsyncConnection, lead_id: str
) -> tuple[LeadScore, str | None, str | None] | None:
    row = (
        await conn.execute(
            text(
                "SELECT lead_id, score, tallies, traits, cycle, qualified_at, updated_at, mql_id, "
                "model_version FROM scoring.leads WHERE lead_id = :id"
            ),
            {"id": lead_id},
        )
    ).first()
    return None if row is None else (_lead(row), row.mql_id, row.model_version)


async def save(
    conn: AsyncConnection, leads: Iterable[LeadScore], mql_ids: dict[str, str], model_version: str
) -> None:
    rows = list(leads)
    if not rows:
        return
    await conn.execute(
        text(
            "INSERT INTO scoring.leads AS l (lead_id, score, tallies, traits, cycle, qualified_at, "
            "mql_id, model_version, updated_at) "
            "SELECT * FROM unnest(CAST(:ids AS text[]), CAST(:scores AS int[]), CAST(:tallies AS jsonb[]), "
            "CAST(:traits AS jsonb[]), CAST(:cycles AS int[]), CAST(:qualified AS timestamptz[]), "
            "CAST(:mql_ids AS text[]), CAST(:versions AS text[]), CAST(:updated AS timestamptz[])) "
            "ON CONFLICT (lead_id) DO UPDATE SET score = excluded.score, tallies = excluded.tallies, "
            "traits = excluded.traits, cycle = excluded.cycle, qualified_at = excluded.qualified_at, "
            "mql_id = coalesce(excluded.mql_id, l.mql_id), model_version = excluded.model_version, "
            "updated_at = excluded.updated_at"
        ),
        {
            "ids": [r.lead_id for r in rows],
            "scores": [r.score for r in rows],
            "tallies": [_tallies_out(r.tallies) for r in rows],
            "traits": [json.dumps(r.traits, separators=(",", ":")) for r in rows],
            "cycles": [r.cycle for r in rows],
            "qualified": [r.qualified_at for r in rows],
            "mql_ids": [mql_ids.get(r.lead_id) for r in rows],
            "versions": [model_version] * len(rows),
            "updated": [r.updated_at for r in rows],
        },
    )


async def delete(conn: AsyncConnection, lead_ids: Iterable[str]) -> None:
    ids = list(lead_ids)
    if ids:
        await conn.execute(
            text("DELETE FROM scoring.leads WHERE lead_id = ANY(CAST(:ids AS text[]))"),
            {"ids": ids},
        )
