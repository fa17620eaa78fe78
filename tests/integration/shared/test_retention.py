"""Bounded growth on the real database: aged inbox rows, ended timers and webhook deliveries are
pruned in batches, what is still needed stays, and the pending-timer gauge reads an index."""

from __future__ import annotations

from datetime import timedelta

import asyncpg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from handoff.db import asyncpg_dsn
from handoff.messaging.retention import Pruner, Retention, inbox_retention
from handoff_sla_watch.adapters.tables import ENDED
from handoff_sla_watch.adapters.timers import COUNT_PENDING, DueTimers
from tests.factories import new_id

SCHEMAS = ("scoring", "routing", "sla")
TWO_WEEKS = timedelta(days=14)


async def _count(engine: AsyncEngine, sql: str, **params: object) -> int:
    async with engine.connect() as conn:
        return int(await conn.scalar(text(sql), params) or 0)


async def test_inbox_rows_aged_60_days_are_pruned_in_batches_and_recent_ones_kept(
    engine: AsyncEngine,
) -> None:
    source = f"/tests/{new_id('retention')}"
    async with engine.begin() as conn:
        for schema in SCHEMAS:
            await conn.execute(
                text(
                    f"INSERT INTO {schema}.inbox (source, event_id, processed_at) "
                    "SELECT :source, 'old-' || n, now() - interval '60 days' "
                    "FROM generate_series(1, 25) n "
                    "UNION ALL SELECT :source, 'new-' || n, now() - interval '13 days' "
                    "FROM generate_series(1, 3) n"
                ),
                {"source": source},
            )
    pruner = Pruner(
        engine, [inbox_retention(s, TWO_WEEKS) for s in SCHEMAS], every_seconds=60, batch=7
    )

    pruned = await pruner.prune_all()

    for schema in SCHEMAS:
        assert pruned[f"{schema}.inbox"] >= 25
        left = await _count(
            engine,
            f"SELECT count(*) FROM {schema}.inbox WHERE source = :source",
            source=source,
        )
        assert left == 3, f"{schema}: only the rows within the retention remain"


async def test_ended_timers_go_after_their_retention_and_open_ones_never(
    engine: AsyncEngine,
) -> None:
    lead = new_id()
    rows = [
        ("met", 60, "met-old"),
        ("cancelled", 60, "cancelled-old"),
        ("met", 3, "met-recent"),
        ("breached", None, "breached-old"),  # an open breach: GET /v1/sla/overdue lists it
        ("pending", None, "pending-old"),
    ]
    async with engine.begin() as conn:
        for state, stopped, name in rows:
            await conn.execute(
                text(
                    "INSERT INTO sla.timers (timer_id, lead_id, handoff_id, policy, stage, state, "
                    "started_at, due_at, stopped_at, next_at) VALUES (:id, :lead, :handoff, "
                    "'accept-within', 'accept', :state, now() - interval '61 days', "
                    "now() - interval '60 days', now() - make_interval(days => :stopped), "
                    "CASE WHEN :state IN ('pending', 'breached') THEN now() + interval '1 day' END)"
                ),
                {
                    "id": new_id("t"),
                    "lead": lead,
                    "handoff": f"{lead}-{name}",
                    "state": state,
                    "stopped": stopped,
                },
            )
    timers = Retention("sla", "timers", "stopped_at", timedelta(days=30), ENDED)

    await Pruner(engine, [timers], every_seconds=60, batch=1).prune_all()

    left = await _count(engine, "SELECT count(*) FROM sla.timers WHERE lead_id = :lead", lead=lead)
    names = await _names(engine, lead)
    assert left == 3
    assert names == {f"{lead}-met-recent", f"{lead}-breached-old", f"{lead}-pending-old"}


async def _names(engine: AsyncEngine, lead: str) -> set[str]:
    async with engine.connect() as conn:
        result = await conn.execute(
            text("SELECT handoff_id FROM sla.timers WHERE lead_id = :lead"), {"lead": lead}
        )
        return {r[0] for r in result}


async def test_webhook_deliveries_go_after_the_dedupe_retention(engine: AsyncEngine) -> None:
    source = new_id("src")
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO ingress.webhook_deliveries (source, delivery_id, received_at) "
                "VALUES (:s, 'old', now() - interval '60 days'), (:s, 'new', now())"
            ),
            {"s": source},
        )
    deliveries = Retention("ingress", "webhook_deliveries", "received_at", timedelta(days=7))

    await Pruner(engine, [deliveries], every_seconds=60, batch=100).prune_all()

    async with engine.connect() as conn:
        left = await conn.execute(
            text("SELECT delivery_id FROM ingress.webhook_deliveries WHERE source = :s"),
            {"s": source},
        )
        assert [r[0] for r in left] == ["new"]


async def test_the_pending_timer_gauge_reads_the_narrow_queue_not_the_timers(
    engine: AsyncEngine, database_url: str
) -> None:
    lead = new_id()
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO sla.timers (timer_id, lead_id, handoff_id, policy, stage, state, "
                "started_at, due_at, stopped_at, next_at) "
                "SELECT :lead || '-' || n, :lead, :lead || '-' || n, 'accept-within', 'accept', "
                "CASE WHEN n <= 4 THEN 'pending' ELSE 'met' END, now(), now() + interval '1 day', "
                "CASE WHEN n <= 4 THEN NULL ELSE now() END, "
                "CASE WHEN n <= 4 THEN now() + interval '1 day' END "
                "FROM generate_series(1, 5000) n"
            ),
            {"lead": lead},
        )
        # Rows written by hand are queued by hand (the repository writes both in one statement).
        await conn.execute(
            text(
                "INSERT INTO sla.due (timer_id, next_at, kind) SELECT timer_id, next_at, 'breach' "
                "FROM sla.timers WHERE lead_id = :lead AND next_at IS NOT NULL"
            ),
            {"lead": lead},
        )
        await conn.execute(text("ANALYZE sla.timers"))
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        before_delete = await DueTimers(conn).count_pending()
        plan = "\n".join(r[0] for r in await conn.fetch("EXPLAIN " + COUNT_PENDING))
        await conn.execute("DELETE FROM sla.timers WHERE lead_id = $1 AND state = 'pending'", lead)
        after_delete = await DueTimers(conn).count_pending()
    finally:
        await conn.execute("DELETE FROM sla.timers WHERE lead_id = $1", lead)
        await conn.close()
    assert before_delete - after_delete == 4
    # The count reads the narrow queue (its rows go with their timers: ON DELETE CASCADE),
    # never the wide table of ended timers.
    assert " on due" in plan and "timers" not in plan, plan
