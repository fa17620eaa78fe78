"""Load and save lead state for a whole batch in one statement each.

`state` is a bytea column PostgreSQL never parses, which keeps the hot upsert cheap. It holds
b"M" followed by the state in Python's `marshal` format (plain lists, dicts, strings and
numbers only: several times faster to write and read than JSON, and loading it runs no code),
or, in rows written before that (migration 0002 and the first release), compact JSON starting
with "{". Both hold the same structure: {"h": [[occurred_at, activity_type, properties|null], ...], "t": traits,
"ta": traits_at, "c": cycle, "o": opens_at, "x": closed, "q": qualified_at, "g": trigger,
"d": disqualified, "da": by activity, "e": [at, score] of the last score_changed,
"k": the running tally (domain/tally.py) and "kv": the model version it was folded under,
"f": [model version, fit points, grade, fit rules], "a": the previous ids merged in by
aliases, "r": when the lead was last erased (domain/erasure.py)}.
"""

from __future__ import annotations

import json
import marshal
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from handoff_scoring.domain.lead import Fit, Lead
from handoff_scoring.domain.tally import Tally

MARSHAL = b"M"
# Version 4 has been the format since Python 3.4; every later Python still reads it.
MARSHAL_VERSION = 4


def _dumps(state: dict[str, Any]) -> bytes:
    try:
        return MARSHAL + marshal.dumps(state, MARSHAL_VERSION)
    except ValueError:  # a value marshal does not take (a subclass of str, say): plain JSON
        return _json(state).encode()


_json = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, check_circular=False).encode


def _loads(raw: bytes) -> Any:
    if raw[:1] == MARSHAL:
        return marshal.loads(memoryview(raw)[1:])  # noqa: S302 (our own column; no code runs)
    return json.loads(raw)


def encode(lead: Lead) -> bytes:
    state: dict[str, Any] = {"h": lead.history, "c": lead.cycle}
    if lead.traits:
        state["t"] = lead.traits
    if lead.traits_at is not None:
        state["ta"] = lead.traits_at
    if lead.opens_at is not None:
        state["o"] = lead.opens_at
    if lead.closed:
        state["x"] = 1
    if lead.qualified_at is not None:
        state["q"] = lead.qualified_at
        state["g"] = lead.trigger
    if lead.disqualified is not None:
        state["d"] = lead.disqualified
        if lead.dq_by_activity:
            state["da"] = 1
    if lead.emitted is not None:
        state["e"] = lead.emitted
    if lead.tally is not None:
        state["k"] = lead.tally.dump()
        state["kv"] = lead.tally_model
    if lead.fit_cache is not None:
        version, fit = lead.fit_cache
        state["f"] = [version, fit.points, fit.grade, fit.rules]
    if lead.aliases:
        state["a"] = lead.aliases
    if lead.erased_at is not None:
        state["r"] = lead.erased_at
    return _dumps(state)


def decode(lead_id: str, raw: bytes) -> Lead:
    s = _loads(raw)
    emitted = s.get("e")
    tally = s.get("k")
    fit = s.get("f")
    return Lead(
        lead_id,
        history=s["h"],  # lists of three, read like (at, kind, props) tuples
        traits=s.get("t") or {},
        traits_at=s.get("ta"),
        cycle=s.get("c", 1),
        opens_at=s.get("o"),
        closed=bool(s.get("x")),
        qualified_at=s.get("q"),
        trigger=s.get("g"),
        disqualified=s.get("d"),
        dq_by_activity=bool(s.get("da")),
        emitted=None if emitted is None else (emitted[0], emitted[1]),
        tally=None if tally is None else Tally.load(tally),
        tally_model=s.get("kv"),
        fit_cache=None if fit is None else (fit[0], Fit(fit[1], fit[2], tuple(fit[3]))),
        aliases=s.get("a") or [],
        erased_at=s.get("r"),
    )


@dataclass(frozen=True, slots=True)
class Row:
    """A lead to save, with the columns operators query."""

    lead: Lead
    score: int
    fit_grade: str
    mql_id: str | None
    updated_at: datetime | None


@dataclass(frozen=True, slots=True)
class Stored:
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


async def get(conn: AsyncConnection, lead_id: str) -> Stored | None:
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
    return Stored(decode(row[0], row[1]), row[2], row[3], row[4])


async def save(conn: AsyncConnection, rows: Sequence[Row], model_version: str) -> None:
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


async def every_lead(conn: AsyncConnection, chunk: int = 2000) -> AsyncIterator[Stored]:
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
            yield Stored(decode(row[0], row[1]), row[2], row[3], row[4])
        after = rows[-1][0]
