"""Read and write funnel rows, handoff links and parked facts: a batch's rows in one statement each."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from handoff_insight.domain import funnel as f

_PLAIN = (
    ("mql_id", "text"),
    ("lead_id", "text"),
    ("cycle", "int"),
    ("qualified_at", "timestamptz"),
    ("score", "int"),
    ("fit_grade", "text"),
    ("trigger_kind", "text"),
    ("trigger_rule", "text"),
    ("source", "text"),
    ("campaign", "text"),
    ("handoff_id", "text"),
    ("pool", "text"),
    ("rep_id", "text"),
    ("team", "text"),
    ("assigned_at", "timestamptz"),
    ("last_assigned_at", "timestamptz"),
    ("accepted_at", "timestamptz"),
    ("rejected_at", "timestamptz"),
    ("reason_code", "text"),
    ("contacted_at", "timestamptz"),
    ("disposition", "text"),
    ("dispositioned_at", "timestamptz"),
    ("recycled_at", "timestamptz"),
    ("escalations", "int"),
    ("escalation_level", "int"),
)
_NAMES = (*(n for n, _ in _PLAIN), "rules", "sla")
_COLUMNS = ", ".join(_NAMES)
_SELECT = ", ".join(n for n, _ in _PLAIN) + ", rules, sla"


def _row(r: Any) -> f.FunnelRow:
    values = {n: getattr(r, n) for n, _ in _PLAIN}
    sla = r.sla or {}
    met = sla.get("met", {})
    return f.FunnelRow(
        **values,
        rules=tuple(r.rules or ()),
        sla_met={stage: (v[0], v[1]) for stage, v in met.items()},
        sla_met_at={stage: datetime.fromisoformat(v[2]) for stage, v in met.items()},
        sla_breached=frozenset(sla.get("breached", ())),
    )


def _sla(row: f.FunnelRow) -> dict[str, Any]:
    return {
        "met": {
            stage: [wall, business, row.sla_met_at[stage].isoformat()]
            for stage, (wall, business) in sorted(row.sla_met.items())
        },
        "breached": sorted(row.sla_breached),
    }


def _iso(value: object) -> str:
    """JSON for what json cannot write itself: the rows' datetimes."""
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


async def load(conn: AsyncConnection, mql_ids: Iterable[str]) -> dict[str, f.FunnelRow]:
    """The rows of these MQLs, locked until the batch commits."""
    ids = sorted(set(mql_ids))
    if not ids:
        return {}
    result = await conn.execute(
        text(
            f"SELECT {_SELECT} FROM insight.funnel WHERE mql_id = ANY(CAST(:ids AS text[])) "
            "ORDER BY mql_id FOR UPDATE"
        ),
        {"ids": ids},
    )
    return {r.mql_id: _row(r) for r in result}


async def save(conn: AsyncConnection, rows: Sequence[f.FunnelRow]) -> None:
    """Upsert the rows, sent as one JSON document: encoding 27 arrays element by element was
    the driver's largest cost for this statement."""
    if not rows:
        return
    records = []
    for r in rows:
        record = {n: getattr(r, n) for n, _ in _PLAIN}
        record["rules"] = list(r.rules)
        record["sla"] = _sla(r)
        records.append(record)
    updates = ", ".join(f"{n} = excluded.{n}" for n in _NAMES[1:])
    await conn.execute(
        text(
            f"INSERT INTO insight.funnel ({_COLUMNS}) SELECT {_COLUMNS} "
            "FROM json_populate_recordset(CAST(NULL AS insight.funnel), CAST(:rows AS json)) "
            f"ON CONFLICT (mql_id) DO UPDATE SET {updates}"
        ),
        {"rows": json.dumps(records, default=_iso)},
    )


async def link(conn: AsyncConnection, pairs: Iterable[tuple[str, str]]) -> None:
    """Remember handoff -> MQL; the first assignment of a handoff wins (they never differ)."""
    items = sorted(set(pairs))
    if not items:
        return
    await conn.execute(
        text(
            "INSERT INTO insight.handoffs (handoff_id, mql_id) "
            "SELECT * FROM unnest(CAST(:h AS text[]), CAST(:m AS text[])) ON CONFLICT DO NOTHING"
        ),
        {"h": [h for h, _ in items], "m": [m for _, m in items]},
    )


async def mqls_of(conn: AsyncConnection, handoff_ids: Iterable[str]) -> dict[str, str]:
    ids = sorted(set(handoff_ids))
    if not ids:
        return {}
    result = await conn.execute(
        text(
            "SELECT handoff_id, mql_id FROM insight.handoffs "
            "WHERE handoff_id = ANY(CAST(:ids AS text[]))"
        ),
        {"ids": ids},
    )
    return {r.handoff_id: r.mql_id for r in result}


# Parked facts are stored as {"kind": class name, **fields}, datetimes in ISO form.
_KINDS: dict[str, type[Any]] = {
    cls.__name__: cls
    for cls in (
        f.Accepted,
        f.Rejected,
        f.Contacted,
        f.Dispositioned,
        f.Recycled,
        f.SlaMet,
        f.SlaBreached,
        f.SlaEscalated,
    )
}


def fact_json(fact: f.HandoffFact) -> str:
    body: dict[str, Any] = {"kind": type(fact).__name__}
    for fld in dataclasses.fields(fact):
        value = getattr(fact, fld.name)
        body[fld.name] = value.isoformat() if isinstance(value, datetime) else value
    return json.dumps(body)


def fact_of(body: dict[str, Any]) -> f.HandoffFact:
    cls = _KINDS[body.pop("kind")]
    if "at" in body:
        body["at"] = datetime.fromisoformat(body["at"])
    fact: f.HandoffFact = cls(**body)
    return fact


async def park(conn: AsyncConnection, facts: Sequence[f.HandoffFact]) -> None:
    if not facts:
        return
    await conn.execute(
        text(
            "INSERT INTO insight.parked (handoff_id, fact) "
            "SELECT h, CAST(j AS jsonb) FROM unnest(CAST(:h AS text[]), CAST(:j AS text[])) AS s(h, j)"
        ),
        {"h": [x.handoff_id for x in facts], "j": [fact_json(x) for x in facts]},
    )


async def unpark(conn: AsyncConnection, handoff_ids: Iterable[str]) -> list[f.HandoffFact]:
    """Take the parked facts of handoffs whose assignment has now arrived."""
    ids = sorted(set(handoff_ids))
    if not ids:
        return []
    result = await conn.execute(
        text(
            "DELETE FROM insight.parked WHERE handoff_id = ANY(CAST(:ids AS text[])) "
            "RETURNING id, fact"
        ),
        {"ids": ids},
    )
    return [fact_of(dict(r.fact)) for r in sorted(result, key=lambda r: r.id)]


FILTERS = ("source", "campaign", "pool", "rep_id")


def _matching(filters: dict[str, str]) -> str:
    """The SQL condition of the window and the filters (column = :column), for :first/:end."""
    where = "qualified_at >= :first AND qualified_at < :end"
    return " AND ".join([where, *(f"{name} = :{name}" for name in FILTERS if name in filters)])


def _params(first: datetime, end: datetime, filters: dict[str, str]) -> dict[str, Any]:
    return {"first": first, "end": end, **{k: v for k, v in filters.items() if k in FILTERS}}


async def outcomes_by_score(
    conn: AsyncConnection, first: datetime, end: datetime, filters: dict[str, str]
) -> list[Any]:
    """MQLs per recorded score and how they ended, for the what-if (window and filters)."""
    result = await conn.execute(
        text(
            "SELECT score, count(*) AS mqls, "
            "count(*) FILTER (WHERE accepted_at IS NOT NULL "
            "  AND (rejected_at IS NULL OR rejected_at <= accepted_at)) AS accepted, "
            "count(*) FILTER (WHERE accepted_at IS NOT NULL OR rejected_at IS NOT NULL) AS decided, "
            "count(*) FILTER (WHERE disposition = 'sql') AS sql "
            f"FROM insight.funnel WHERE {_matching(filters)} "
            "AND score IS NOT NULL GROUP BY score"
        ),
        _params(first, end, filters),
    )
    return list(result)


async def outcomes_by(
    conn: AsyncConnection, first: datetime, end: datetime, what: str, filters: dict[str, str]
) -> list[Any]:
    """Per scoring rule (`rule`) or per trigger (`trigger`): MQLs and how they ended, by reason."""
    key = "unnest(CASE WHEN cardinality(rules) = 0 THEN ARRAY['(none)'] ELSE rules END)"
    if what == "trigger":
        key = "trigger_kind || ': ' || trigger_rule"
    result = await conn.execute(
        text(
            f"SELECT {key} AS name, "
            "CASE WHEN accepted_at IS NOT NULL AND (rejected_at IS NULL OR rejected_at <= accepted_at) "
            "  THEN 'accepted' WHEN rejected_at IS NOT NULL THEN 'rejected' ELSE 'open' END AS decision, "
            "COALESCE(reason_code, '') AS reason, (disposition = 'sql') IS TRUE AS is_sql, "
            f"count(*) AS n FROM insight.funnel WHERE {_matching(filters)} "
            "GROUP BY 1, 2, 3, 4"
        ),
        _params(first, end, filters),
    )
    return list(result)
