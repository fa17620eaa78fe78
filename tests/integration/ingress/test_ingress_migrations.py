"""ingress's migrations on databases of their own: the delivery ids scoring remembered before the
webhooks moved are copied over (so a provider's retry stays a duplicate), and a database that
never had scoring's table migrates all the same."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import text

from handoff.db import create_engine
from handoff.migrations import upgrade
from handoff_ingress.settings import SERVICE

# scoring's table as its migration 0100 made it, before issue 11 moved the webhooks.
SCORING_TABLE = [
    "CREATE SCHEMA scoring",
    "CREATE TABLE scoring.webhook_deliveries (source text NOT NULL, delivery_id text NOT NULL, "
    "received_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (source, delivery_id))",
    "INSERT INTO scoring.webhook_deliveries VALUES "
    "('hubspot', 'd-1', '2026-11-28T10:00:00Z'), ('standard', 'msg_2', '2026-11-30T09:00:00Z')",
]


async def _sql(url: str, statements: list[str]) -> list[Any]:
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            results = [await conn.execute(text(s)) for s in statements]
            return [list(r) if r.returns_rows else [] for r in results]
    finally:
        await engine.dispose()


def test_scorings_delivery_ids_are_copied_with_their_age(own_database: str) -> None:
    asyncio.run(_sql(own_database, SCORING_TABLE))
    upgrade(SERVICE, own_database)
    (rows,) = asyncio.run(
        _sql(
            own_database,
            [
                "SELECT source, delivery_id, to_char(received_at AT TIME ZONE 'UTC', "
                "'YYYY-MM-DD HH24:MI') FROM ingress.webhook_deliveries ORDER BY source"
            ],
        )
    )
    assert [tuple(r) for r in rows] == [
        ("hubspot", "d-1", "2026-11-28 10:00"),
        ("standard", "msg_2", "2026-11-30 09:00"),
    ]


def test_a_database_without_scorings_table_migrates_to_an_empty_one(own_database: str) -> None:
    upgrade(SERVICE, own_database)
    (count, version) = asyncio.run(
        _sql(
            own_database,
            [
                "SELECT count(*) FROM ingress.webhook_deliveries",
                "SELECT version_num FROM ingress.alembic_version",
            ],
        )
    )
    assert count[0][0] == 0 and version[0][0] == "0002"
