"""insight's migrations 0003 and 0004 fold per-counter cube and rollup rows into one jsonb per
cell and group, and their downgrades unfold them again, on a database of its own."""

from __future__ import annotations

import asyncio
from typing import Any

from alembic import command
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from handoff.db import create_engine
from handoff.migrations import alembic_config, upgrade
from handoff_insight.settings import SERVICE
from tests.factories import new_id

CELL = "'web', 'c1', 'jp', 'rep-1', 'score >= 60', 'B', '(none)'"


async def _sql(url: str, statements: list[str]) -> list[Any]:
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            results = [await conn.execute(text(s)) for s in statements]
            return [list(r) if r.returns_rows else [] for r in results]
    finally:
        await engine.dispose()


def test_counters_are_folded_into_jsonb_and_unfolded_again(database_url: str) -> None:
    name = new_id("insight_migrations").replace("-", "_")
    url = make_url(database_url)
    own = url.set(database=name).render_as_string(hide_password=False)
    # CREATE/DROP DATABASE run outside a transaction; each asyncio.run has its own loop.
    admin = create_async_engine(database_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)

    async def create(sql: str) -> None:
        async with admin.connect() as conn:
            await conn.execute(text(sql))

    asyncio.run(create(f"CREATE DATABASE {name}"))
    try:
        upgrade(SERVICE, own, "0002")
        asyncio.run(
            _sql(
                own,
                [
                    "INSERT INTO insight.rollup (dim, day, value, counter, n) VALUES "
                    "('source', '2026-11-30', 'web', 'mqls', 3), "
                    "('source', '2026-11-30', 'web', 'accepted', 2), "
                    "('source', '2026-11-30', 'web', 'rejected', 0)",
                    f"INSERT INTO insight.cube VALUES ('2026-11-30', {CELL}, 'mqls', 3), "
                    f"('2026-11-30', {CELL}, 'sql', 1)",
                ],
            )
        )
        upgrade(SERVICE, own)
        rollup, cube, merged = asyncio.run(
            _sql(
                own,
                [
                    "SELECT dim, value, counters FROM insight.rollup",
                    "SELECT source, team, counters FROM insight.cube",
                    'SELECT insight.add_counters(\'{"mqls": 3, "sql": 1}\', '
                    '\'{"mqls": 1, "sql": -1, "accepted": 1}\')',
                ],
            )
        )
        # A zero counter is not carried; adding drops what sums to zero.
        assert [tuple(r) for r in rollup] == [("source", "web", {"mqls": 3, "accepted": 2})]
        assert [tuple(r) for r in cube] == [("web", "(none)", {"mqls": 3, "sql": 1})]
        assert merged[0][0] == {"mqls": 4, "accepted": 1}
        command.downgrade(alembic_config(SERVICE, own), "0002")
        rollup, cube = asyncio.run(
            _sql(
                own,
                [
                    "SELECT counter, n FROM insight.rollup ORDER BY counter",
                    "SELECT counter, n FROM insight.cube ORDER BY counter",
                ],
            )
        )
        assert [tuple(r) for r in rollup] == [("accepted", 2), ("mqls", 3)]
        assert [tuple(r) for r in cube] == [("mqls", 3), ("sql", 1)]
    finally:
        asyncio.run(create(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        asyncio.run(admin.dispose())
