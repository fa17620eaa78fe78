"""Scoring's migrations on databases of their own: 0400 moves each lead's history out of its
state into scoring.activities and back; 0300 drops webhook_deliveries (the webhooks
moved to the ingress service) and its downgrade gives the table back; and `handoff migrate` on
a database from before the move keeps the providers' delivery ids, because ingress copies them
before scoring drops its table."""

from __future__ import annotations

import asyncio
import json
import marshal
from typing import Any

import pytest
from alembic import command
from sqlalchemy import text

from handoff.cli import main as handoff_cli
from handoff.db import create_engine
from handoff.migrations import alembic_config, upgrade
from handoff_scoring.adapters import leads
from handoff_scoring.domain import engagement, lifecycle
from handoff_scoring.domain.lead import Lead
from handoff_scoring.settings import SERVICE
from tests.integration.scoring.test_scoring_handler import MODEL

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


# --- 0400: the activity log ------------------------------------------------------------------

BEFORE_THE_LOG = "0300_drop_webhook_deliveries"
T0 = 1_795_000_000.0


def release_01_state(lead: Lead, as_json: bool = False) -> bytes:
    """The state column exactly as the release before 0400 wrote it (its lead_state.encode,
    kept here as it was): the whole history inside, in marshal (or JSON, the first release)."""
    fit = lead.fit_cache
    optional: dict[str, Any] = {
        "t": lead.traits or None,
        "ta": lead.traits_at,
        "o": lead.opens_at,
        "x": 1 if lead.closed else None,
        "q": lead.qualified_at,
        "g": lead.trigger if lead.qualified_at is not None else None,
        "d": lead.disqualified,
        "da": 1 if lead.disqualified is not None and lead.dq_by_activity else None,
        "e": lead.emitted,
        "k": None if lead.tally is None else lead.tally.dump(),
        "kv": None if lead.tally is None else lead.tally_model,
        "f": None if fit is None else [fit[0], fit[1].points, fit[1].grade, fit[1].rules],
        "a": lead.aliases or None,
        "r": lead.erased_at,
    }
    state = {"h": lead.history, "c": lead.cycle}
    state.update((key, value) for key, value in optional.items() if value is not None)
    if as_json:
        return json.dumps(state).encode()
    return b"M" + marshal.dumps(state, 4)


def leads_of_every_shape() -> list[Lead]:
    """A busy MQL in its second cycle with aliases, a disqualified lead, an erased tombstone."""
    busy = Lead("L-busy")
    lifecycle.apply_identify(MODEL, busy, {"title": "CTO", "company": {"size": 300}}, T0)
    for i in range(40):
        kind, props = [("page_view", {"url": f"/p/{i}"}), ("content_download", None)][i % 2]
        lifecycle.apply_activity(MODEL, busy, T0 + 3600.0 * i, kind, props)
    lifecycle.recycle(busy, T0 + 3600.0 * 30)
    lifecycle.apply_activity(MODEL, busy, T0 + 3600.0 * 41, "demo_request", None)
    busy.aliases = ["anon-1"]
    busy.emitted = (T0 + 3600.0 * 41, 99)
    unsubscribed = Lead("L-dq")
    lifecycle.apply_activity(MODEL, unsubscribed, T0, "unsubscribe", {"source": "hubspot"})
    tombstone = Lead("L-erased", cycle=2, erased_at=T0)
    for lead in (busy, unsubscribed, tombstone):
        engagement.score_at(MODEL, lead)
    return [busy, unsubscribed, tombstone]


def test_0400_moves_every_history_into_the_activity_log_and_back(own_database: str) -> None:
    upgrade(SERVICE, own_database, BEFORE_THE_LOG)
    originals = leads_of_every_shape()
    rows = ", ".join(
        f"('{lead.lead_id}', decode('{release_01_state(lead, as_json=n == 1).hex()}', 'hex'), "
        f"0, 'D', {lead.cycle}, 'v1')"
        for n, lead in enumerate(originals)
    )
    sql(own_database, "INSERT INTO scoring.leads (lead_id, state, score, fit_grade, cycle, "
        f"model_version) VALUES {rows}")  # fmt: skip

    upgrade(SERVICE, own_database)

    async def read() -> dict[str, Lead]:
        engine = create_engine(own_database)
        try:
            async with engine.connect() as conn:
                return {
                    lead.lead_id: found.lead
                    for lead in originals
                    if (found := await leads.get(conn, lead.lead_id)) is not None
                }
        finally:
            await engine.dispose()

    moved = asyncio.run(read())
    (counts,) = sql(own_database, "SELECT lead_id, count(*) FROM scoring.activities GROUP BY 1")
    assert dict(counts) == {"L-busy": 41, "L-dq": 1}
    (states,) = sql(own_database, "SELECT DISTINCT get_byte(state, 0) FROM scoring.leads")
    assert states == [(1,)]  # every row in the versioned layout
    later = T0 + 90 * 86_400.0
    for lead in originals:
        back = moved[lead.lead_id]
        assert back.history == lead.history  # times exact, properties kept
        for name in ("traits", "cycle", "opens_at", "qualified_at", "trigger", "disqualified",
                     "dq_by_activity", "aliases", "erased_at", "emitted", "fit_cache"):  # fmt: skip
            assert getattr(back, name) == getattr(lead, name), name
        assert engagement.score_at(MODEL, back) == engagement.score_at(MODEL, lead)
        assert engagement.score_at(MODEL, back, later) == engagement.score_at(MODEL, lead, later)

    command.downgrade(alembic_config(SERVICE, own_database), BEFORE_THE_LOG)
    (states, gone) = sql(
        own_database,
        "SELECT lead_id, state FROM scoring.leads ORDER BY lead_id",
        "SELECT to_regclass('scoring.activities') IS NULL",
    )
    assert gone[0][0] is True
    by_id = {lead.lead_id: lead for lead in originals}
    for lead_id, state in states:
        assert bytes(state)[:1] == b"M"
        old = marshal.loads(bytes(state)[1:])  # noqa: S302 (written by this test)
        assert [tuple(e) for e in old["h"]] == [tuple(e) for e in by_id[lead_id].history]
        assert old["c"] == by_id[lead_id].cycle
