"""The daily rollup: counters per (dimension, day, group value); KPIs sum a window of it."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import date

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from handoff_insight.domain.rollup import CUBE_DIMENSIONS, CellKey, GroupKey


async def add(conn: AsyncConnection, groups: Mapping[GroupKey, Mapping[str, int]]) -> None:
    """Add a batch's counter changes: one row per (dimension, day, group value) with its
    counters, merged into the stored ones; in key order so concurrent writers never deadlock.

    The rows travel as one JSON document rather than as parallel arrays: encoding thousands
    of array elements one by one was the driver's largest cost per batch."""
    if not groups:
        return
    rows = [
        {"dim": dim, "day": day.isoformat(), "value": value, "counters": groups[(dim, day, value)]}
        for dim, day, value in sorted(groups)
    ]
    await conn.execute(
        text(
            "INSERT INTO insight.rollup (dim, day, value, counters) "
            "SELECT dim, day, value, counters "
            "FROM json_populate_recordset(CAST(NULL AS insight.rollup), CAST(:rows AS json)) "
            "ON CONFLICT (dim, day, value) "
            "DO UPDATE SET counters = insight.add_counters(insight.rollup.counters, excluded.counters)"
        ),
        {"rows": json.dumps(rows)},
    )


Counters = dict[str, dict[str, int]]  # group value -> counter -> n


async def sums(
    conn: AsyncConnection,
    dim: str,
    first: date,
    last: date,
    values: Iterable[str] | None = None,
) -> Counters:
    """Summed counters per group value of `dim` over the days first..last (inclusive)."""
    only = sorted(set(values)) if values is not None else None
    result = await conn.execute(
        text(
            "SELECT value, c.counter, sum(CAST(c.n AS bigint))::bigint AS n "
            "FROM insight.rollup, jsonb_each_text(counters) AS c(counter, n) "
            "WHERE dim = :dim AND day BETWEEN :first AND :last "
            "AND (CAST(:only AS text[]) IS NULL OR value = ANY(CAST(:only AS text[]))) "
            "GROUP BY value, c.counter"
        ),
        {"dim": dim, "first": first, "last": last, "only": only},
    )
    out: Counters = defaultdict(dict)
    for r in result:
        if r.n:
            out[r.value][r.counter] = int(r.n)
    return dict(out)


async def weekly(conn: AsyncConnection, first: date, last: date) -> Counters:
    """Overall counters per ISO week (keyed by the Monday, as YYYY-MM-DD)."""
    result = await conn.execute(
        text(
            "SELECT CAST(date_trunc('week', day) AS date) AS week, c.counter, "
            "sum(CAST(c.n AS bigint))::bigint AS n "
            "FROM insight.rollup, jsonb_each_text(counters) AS c(counter, n) "
            "WHERE dim = 'overall' AND day BETWEEN :first AND :last "
            "GROUP BY week, c.counter"
        ),
        {"first": first, "last": last},
    )
    out: Counters = defaultdict(dict)
    for r in result:
        if r.n:
            out[r.week.isoformat()][r.counter] = int(r.n)
    return dict(out)


async def top_values(conn: AsyncConnection, dim: str, first: date, limit: int) -> list[str]:
    """The group values of `dim` with the most MQLs since `first` (bounded metric labels)."""
    result = await conn.execute(
        text(
            "SELECT value FROM insight.rollup WHERE dim = :dim AND day >= :first "
            "AND counters ->> 'mqls' IS NOT NULL GROUP BY value "
            "ORDER BY sum(CAST(counters ->> 'mqls' AS bigint)) DESC, value LIMIT :limit"
        ),
        {"dim": dim, "first": first, "limit": limit},
    )
    return [r.value for r in result]


async def add_cube(conn: AsyncConnection, cells: Mapping[CellKey, Mapping[str, int]]) -> None:
    """Add a batch's cube changes: one row per (day, cell) with its counters, merged into the
    cell's counters; in key order so concurrent writers never deadlock (one JSON document)."""
    if not cells:
        return
    columns = ", ".join(CUBE_DIMENSIONS)
    rows = []
    for (day, cell), counters in sorted(cells.items()):
        row: dict[str, object] = dict(zip(CUBE_DIMENSIONS, cell, strict=True))
        row.update(day=day.isoformat(), counters=counters)
        rows.append(row)
    await conn.execute(
        text(
            f"INSERT INTO insight.cube (day, {columns}, counters) "
            f"SELECT day, {columns}, counters "
            "FROM json_populate_recordset(CAST(NULL AS insight.cube), CAST(:rows AS json)) "
            f"ON CONFLICT (day, {columns}) "
            "DO UPDATE SET counters = insight.add_counters(insight.cube.counters, excluded.counters)"
        ),
        {"rows": json.dumps(rows)},
    )


async def filtered(
    conn: AsyncConnection, by: str, first: date, last: date, filters: Mapping[str, str]
) -> Counters:
    """Summed counters per group value of `by` over first..last, of the cells matching every
    filter (a dimension of CUBE_DIMENSIONS = value; "(none)" is the group lacking the value)."""
    if by == "overall":
        group = "'all'"
    elif by == "week":
        group = "CAST(CAST(date_trunc('week', day) AS date) AS text)"
    elif by in CUBE_DIMENSIONS:
        group = by
    else:
        raise ValueError(f"unknown dimension {by!r}")
    where = "".join(f" AND {d} = :{d}" for d in CUBE_DIMENSIONS if d in filters)
    result = await conn.execute(
        text(
            f"SELECT {group} AS value, c.counter, sum(CAST(c.n AS bigint))::bigint AS n "
            "FROM insight.cube, jsonb_each_text(counters) AS c(counter, n) "
            f"WHERE day BETWEEN :first AND :last{where} GROUP BY 1, c.counter"
        ),
        {"first": first, "last": last, **{d: filters[d] for d in CUBE_DIMENSIONS if d in filters}},
    )
    out: Counters = defaultdict(dict)
    for r in result:
        if r.n:
            out[r.value][r.counter] = int(r.n)
    return dict(out)
