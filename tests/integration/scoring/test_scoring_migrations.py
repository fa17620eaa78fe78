"""Scoring's migrations on databases of their own: 0300 drops webhook_deliveries (the webhooks
moved to the ingress service) and its downgrade gives the table back; and `handoff migrate` on
a database from before the move keeps the providers' delivery ids, because ingress copies them
before scoring drops its table."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from alembic import command
from sqlalchemy import text

from handoff.cli import main as handoff_cli
from handoff.db import create_engine
from handoff.migrations import alembic_config, upgrade
from handoff_scoring.settings import SERVICE

BEFORE_THE_MOVE = "0200_retention"
DELIVERIES = (
    "INSERT INTO scoring.webhook_deliveries (source, delivery_id, received_at) VALUES "
    "('hubspot', 'd-1', '2026-11-28T10:00:00Z'), ('standard', 'msg_2', '2026-11-30T09:00:00Z')"
)
HAS_TABLE = "SELECT to_regclass('scoring.webhook_deliveries') IS NOT NULL"


async def _sql(url: str, statements: list[str]) -> list[Any]:
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            results = [await conn.execute(text(s)) for s in statements]
            return [list(r) if r.returns_rows else [] for r in results]
    finally:
        await engine.dispose()


def sql(url: str, *statements: str) -> list[Any]:
    return asyncio.run(_sql(url, list(statements)))


def test_0300_drops_the_delivery_table_and_its_downgrade_gives_it_back(own_database: str) -> None:
    upgrade(SERVICE, own_database, BEFORE_THE_MOVE)
    sql(own_database, DELIVERIES)
    upgrade(SERVICE, own_database)
    (gone,) = sql(own_database, HAS_TABLE)
    assert gone[0][0] is False
    command.downgrade(alembic_config(SERVICE, own_database), BEFORE_THE_MOVE)
    (back, rows) = sql(own_database, HAS_TABLE, "SELECT count(*) FROM scoring.webhook_deliveries")
    assert back[0][0] is True and rows[0][0] == 0


def test_handoff_migrate_keeps_the_delivery_ids_across_the_move(own_database: str) -> None:
    pytest.importorskip("handoff_ingress", reason="the ingress service is not installed here")
    upgrade(SERVICE, own_database, BEFORE_THE_MOVE)
    sql(own_database, DELIVERIES)
    assert handoff_cli(["migrate", "--database-url", own_database]) == 0
    (copied, scoring_has) = sql(
        own_database,
        "SELECT source, delivery_id FROM ingress.webhook_deliveries ORDER BY source",
        HAS_TABLE,
    )
    assert [tuple(r) for r in copied] == [("hubspot", "d-1"), ("standard", "msg_2")]
    assert scoring_has[0][0] is False
