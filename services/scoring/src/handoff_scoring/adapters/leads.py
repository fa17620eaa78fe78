"""The lead repository: load and save the leads of a whole batch in one statement each, read
one lead for the API, and walk every lead for rescore.

A lead is two things here: its running state, one row of scoring.leads (the format is in
lead_state.py), and its activities, rows of scoring.activities appended as they come. Loading a
batch reads the states only; `complete` reads the activities of the few leads that need them
(a late event, an alias, a new model: lifecycle.needs_history). Saving appends the activities
added since loading, or rewrites a lead's activities when its history was rewritten."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec
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


# A lead's activities as one JSON text, [[occurred_at, activity_type, properties], ...] in the
# domain's order (time, then activity type, then as appended), decoded by msgspec: several
# times faster than rows, or than the driver's json.loads.
_LOG = (
    "(SELECT json_agg(json_build_array(a.occurred_at, a.activity_type, a.properties) "
    "ORDER BY a.occurred_at, a.activity_type, a.seq)::text "
    "FROM scoring.activities AS a WHERE a.lead_id = {lead_id})"
)
_entries = msgspec.json.Decoder(list[tuple[float, str, dict[str, str] | None]]).decode
# A lead's state and its activities in one statement, so one snapshot: a batch committing
# between two reads would otherwise show a history the state does not count yet.
WITH_HISTORY = (
    "SELECT l.lead_id, l.state, l.score, l.mql_id, l.model_version, "
    + _LOG.format(lead_id="l.lead_id")
    + " FROM scoring.leads AS l "
)


def _with_history(row: Any) -> StoredLead:
    lead = decode(row[0], row[1])
    if not lead.complete:
        lead.with_earlier(_entries(row[5]) if row[5] else [])
    return StoredLead(lead, row[2], row[3], row[4])


async def get(conn: AsyncConnection, lead_id: str) -> StoredLead | None:
    """One lead with its whole history, for the API and erasure."""
    row = (
        await conn.execute(text(WITH_HISTORY + "WHERE l.lead_id = :id"), {"id": lead_id})
    ).first()
    return None if row is None else _with_history(row)


async def complete(conn: AsyncConnection, partial: Iterable[Lead]) -> None:
    """Load the stored activities of the leads whose history is only partly in memory."""
    wanted = [lead for lead in partial if not lead.complete]
    if not wanted:
        return
    result = await conn.execute(
        text(
            "SELECT w.id, "
            + _LOG.format(lead_id="w.id")
            + " FROM unnest(CAST(:ids AS text[])) AS w(id)"
        ),
        {"ids": list({lead.lead_id for lead in wanted})},
    )
    found = {lead_id: logged for lead_id, logged in result}
    for lead in wanted:
        logged = found.get(lead.lead_id)
        lead.with_earlier(_entries(logged) if logged else [])


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
    await _write_activities(conn, [r.lead for r in rows])


async def _write_activities(conn: AsyncConnection, saved: Sequence[Lead]) -> None:
    """Append each lead's activities added since loading; rewrite those whose history was
    rewritten (a late event, a merge, a trim, an erasure)."""
    rewritten = [lead.lead_id for lead in saved if lead.history_replaced]
    if rewritten:
        await conn.execute(
            text("DELETE FROM scoring.activities WHERE lead_id = ANY(CAST(:ids AS text[]))"),
            {"ids": rewritten},
        )
    ids: list[str] = []
    ats: list[float] = []
    kinds: list[str] = []
    props: list[str | None] = []
    for lead in saved:
        start = 0 if lead.history_replaced else lead.saved
        for at, kind, p in lead.history[start:]:
            ids.append(lead.lead_id)
            ats.append(at)
            kinds.append(kind)
            props.append(None if p is None else msgspec.json.encode(p).decode())
        lead.saved, lead.history_replaced = len(lead.history), False
    if ids:
        await conn.execute(
            text(
                "INSERT INTO scoring.activities (lead_id, occurred_at, activity_type, properties) "
                "SELECT * FROM unnest(CAST(:ids AS text[]), CAST(:ats AS float8[]), "
                "CAST(:kinds AS text[]), CAST(:props AS jsonb[]))"
            ),
            {"ids": ids, "ats": ats, "kinds": kinds, "props": props},
        )


async def delete(conn: AsyncConnection, lead_ids: Iterable[str]) -> None:
    """Delete these leads and their activities (merged into another lead by an alias)."""
    ids = list(lead_ids)
    if ids:
        await conn.execute(
            text("DELETE FROM scoring.leads WHERE lead_id = ANY(CAST(:ids AS text[]))"),
            {"ids": ids},
        )
        await conn.execute(
            text("DELETE FROM scoring.activities WHERE lead_id = ANY(CAST(:ids AS text[]))"),
            {"ids": ids},
        )


async def count(conn: AsyncConnection) -> int:
    """How many leads there are (rescore's progress total)."""
    return int(await conn.scalar(text("SELECT count(*) FROM scoring.leads")) or 0)


async def every_lead(conn: AsyncConnection, chunk: int = 2000) -> AsyncIterator[StoredLead]:
    """All leads in lead_id order with their whole histories, a chunk at a time (for rescore)."""
    after = ""
    while True:
        rows = (
            await conn.execute(
                text(WITH_HISTORY + "WHERE l.lead_id > :after ORDER BY l.lead_id LIMIT :n"),
                {"after": after, "n": chunk},
            )
        ).all()
        if not rows:
            return
        for row in rows:
            yield _with_history(row)
        after = rows[-1][0]
