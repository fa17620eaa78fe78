"""The lead repository: load and save the leads of a whole batch in one statement each, read
one lead for the API, and walk every lead for rescore. The state column's format is in
lead_state.py."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from handoff_scoring.adapters.lead_state import decode, encode
from handoff_scoring.domain.lead import Lead


@dataclass(frozen=True, slots=True)
class LeadRow:
    """A lead to save, with the columns operators query."""

    lead: Lead
    score: int
    fit_grade: str
    mql_id: str | None
    updated_at: datetime | None


@dataclass(frozen=True, slots=True)
class StoredLead:
    lead: Lead
    score: int
    mql_id: str | None
    model_version: str


async def load(conn: AsyncConnection, lead_ids: Iterable[str]) -> dict[str, Lead]:
    """The leads that exist, locked for this transaction (two instances never interleave a lead)."""
    ids = sorted(set(lead_ids))
    result = await conn.execute(
        text(
            "SELECT lead_id, state FROM scoring.leads "
            "WHERE lead_id = ANY(CAST(:ids AS text[])) ORDER BY lead_id FOR UPDATE"
        ),
        {"ids": ids},
    )
    return {row[0]: decode(row[0], row[1]) for row in result}


async def get(conn: AsyncConnection, lead_id: str) -> StoredLead | None:
    row = (
        await conn.execute(
            text(
                "SELECT lead_id, state, score, mql_id, model_version FROM scoring.leads "
                "WHERE lead_id = :id"
            ),
            {"id": lead_id},
        )
    ).first()
    if row is None:
        return None
    return StoredLead(decode(row[0], row[1]), row[2], row[3], row[4])


async def save(conn: AsyncConnection, rows: Sequence[LeadRow], model_version: str) -> None:
    if not rows:
        return
    await conn.execute(
        text(
            "INSERT INTO scoring.leads AS l (lead_id, state, score, fit_grade, cycle, mql_id, "
            "disqualified, model_version, updated_at) "
            "SELECT lead_id, state, score, grade, cycle, mql_id, dq, CAST(:version AS text), upd "
            "FROM unnest(CAST(:ids AS text[]), CAST(:states AS bytea[]), CAST(:scores AS int[]), "
            "CAST(:grades AS text[]), CAST(:cycles AS int[]), CAST(:mql_ids AS text[]), "
            "CAST(:dq AS text[]), CAST(:updated AS timestamptz[])) "
            "AS u(lead_id, state, score, grade, cycle, mql_id, dq, upd) "
            "ON CONFLICT (lead_id) DO UPDATE SET state = excluded.state, score = excluded.score, "
            "fit_grade = excluded.fit_grade, cycle = excluded.cycle, "
            "mql_id = CASE WHEN excluded.cycle = l.cycle THEN coalesce(excluded.mql_id, l.mql_id) "
            "ELSE excluded.mql_id END, "
            "disqualified = excluded.disqualified, model_version = excluded.model_version, "
            "updated_at = excluded.updated_at"
        ),
        {
            "ids": [r.lead.lead_id for r in rows],
            "states": [encode(r.lead) for r in rows],
            "scores": [r.score for r in rows],
            "grades": [r.fit_grade for r in rows],
            "cycles": [r.lead.cycle for r in rows],
            "mql_ids": [r.mql_id for r in rows],
            "dq": [r.lead.disqualified for r in rows],
            "version": model_version,
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


async def count(conn: AsyncConnection) -> int:
    """How many leads there are (rescore's progress total)."""
    return int(await conn.scalar(text("SELECT count(*) FROM scoring.leads")) or 0)


async def every_lead(conn: AsyncConnection, chunk: int = 2000) -> AsyncIterator[StoredLead]:
    """All leads in lead_id order, a chunk at a time (for rescore)."""
    after = ""
    while True:
        rows = (
            await conn.execute(
                text(
                    "SELECT lead_id, state, score, mql_id, model_version FROM scoring.leads "
                    "WHERE lead_id > :after ORDER BY lead_id LIMIT :n"
                ),
                {"after": after, "n": chunk},
            )
        ).all()
        if not rows:
            return
        for row in rows:
            yield StoredLead(decode(row[0], row[1]), row[2], row[3], row[4])
        after = rows[-1][0]
