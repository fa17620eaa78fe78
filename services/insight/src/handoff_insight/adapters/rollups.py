"""The daily rollup: counters per (dimension, day, group value); KPIs sum a window of it."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import date

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from handoff_insight.domain.rollup import CUBE_DIMENSIONS, CubeKey, Key


async def add(conn: AsyncConnection, delta: Mapping[Key, int]) -> None:
    """Add a batch's counter changes, in key order so concurrent writers never deadlock."""
    if not delta:
        return
    keys = sorted(delta, key=lambda k: (k[1], k[0], k[2], k[3]))
    await conn.execute(
        text(
            "INSERT INTO insight.rollup (dim, day, value, counter, n) "
            "SELECT * FROM unnest(CAST(:dims AS text[]), CAST(:days AS date[]), "
            "CAST(:vals AS text[]), CAST(:ctrs AS text[]), CAST(:ns AS bigint[])) "
            "ON CONFLICT (dim, day, value, counter) DO UPDATE SET n = insight.rollup.n + excluded.n"
        ),
        {
            "dims": [k[1] for k in keys],
            "days": [k[0] for k in keys],
            "vals": [k[2] for k in keys],
            "ctrs": [k[3] for k in keys],
            "ns": [delta[k] for k in keys],
        },
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
            "SELECT value, counter, sum(n)::bigint AS n FROM insight.rollup "
            "WHERE dim = :dim AND day BETWEEN :first AND :last "
            "AND (CAST(:only AS text[]) IS NULL OR value = ANY(CAST(:only AS text[]))) "
            "GROUP BY value, counter"
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
            "SELECT CAST(date_trunc('week', day) AS date) AS week, counter, sum(n)::bigint AS n "
            "FROM insight.rollup WHERE dim = 'overall' AND day BETWEEN :first AND :last "
            "GROUP BY week, counter"
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
            "AND counter = 'mqls' GROUP BY value ORDER BY sum(n) DESC, value LIMIT :limit"
        ),
        {"dim": dim, "first": first, "limit": limit},
    )
    return [r.value for r in result]


async def add_cube(conn: AsyncConnection, delta: Mapping[CubeKey, int]) -> None:
    """Add a batch's cube changes, in key order so concurrent writers never deadlock."""
    if not delta:
        return
    keys = sorted(delta)
    columns = ", ".join(CUBE_DIMENSIONS)
    arrays = ", ".join(f"CAST(:{d} AS text[])" for d in CUBE_DIMENSIONS)
    params: dict[str, list[object]] = {
        d: [k[1][i] for k in keys] for i, d in enumerate(CUBE_DIMENSIONS)
    }
    await conn.execute(
        text(
            f"INSERT INTO insight.cube (day, {columns}, counter, n) "
            f"SELECT * FROM unnest(CAST(:days AS date[]), {arrays}, "
            "CAST(:ctrs AS text[]), CAST(:ns AS bigint[])) "
            f"ON CONFLICT (day, {columns}, counter) DO UPDATE SET n = insight.cube.n + excluded.n"
        ),
        {
            "days": [k[0] for k in keys],
            **params,
            "ctrs": [k[2] for k in keys],
            "ns": [delta[k] for k in keys],
        },
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
            f"SELECT {group} AS value, counter, sum(n)::bigint AS n FROM insight.cube "
            f"WHERE day BETWEEN :first AND :last{where} GROUP BY 1, counter"
        ),
        {"first": first, "last": last, **{d: filters[d] for d in CUBE_DIMENSIONS if d in filters}},
    )
    out: Counters = defaultdict(dict)
    for r in result:
        if r.n:
            out[r.value][r.counter] = int(r.n)
    return dict(out)
