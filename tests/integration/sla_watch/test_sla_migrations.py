"""sla-watch's migration 0300 moves what is due into the narrow queue `sla.due` without losing
a pending timer, on a database of its own filled by the schema before it; after it, firing a
timer deletes its queue row and rewrites the timer row as a HOT update (no index touched)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from alembic import command

from handoff.db import asyncpg_dsn, create_engine
from handoff.migrations import alembic_config, upgrade
from handoff_sla_watch.adapters import timers as repository
from handoff_sla_watch.entrypoints.firer import fire_due
from handoff_sla_watch.settings import SERVICE

BEFORE = "0200_retention"
NOW = datetime.now(UTC)
# (timer_id, state, due_at, next_at, stopped_at): every shape a timer row takes before 0300.
ROWS = [
    ("overdue", "pending", NOW - timedelta(hours=1), NOW - timedelta(hours=1), None),
    ("warns", "pending", NOW + timedelta(hours=4), NOW + timedelta(hours=3), None),
    ("later", "pending", NOW + timedelta(days=2), NOW + timedelta(days=2), None),
    ("escalates", "breached", NOW - timedelta(hours=2), NOW + timedelta(hours=1), None),
    ("chain-ended", "breached", NOW - timedelta(hours=3), None, None),
    ("met", "met", NOW + timedelta(hours=1), None, NOW - timedelta(minutes=5)),
    ("tombstone", "cancelled", None, None, NOW - timedelta(minutes=9)),
]
INSERT = (
    "INSERT INTO sla.timers (timer_id, lead_id, handoff_id, rep_id, pool, policy, stage, state, "
    "started_at, due_at, next_at, stopped_at, fired_at) VALUES ($1, 'lead-' || $1, 'h-' || $1, "
    "'rep-1', 'emea', 'accept-within', 'accept', $2, "
    "CASE WHEN $3::timestamptz IS NULL THEN NULL ELSE $3::timestamptz - interval '1 day' END, "
    "$3, $4, $5, CASE WHEN $2 = 'breached' THEN $3::timestamptz END)"
)


async def _fetch(url: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


async def _fill(url: str) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await conn.executemany(INSERT, ROWS)
    finally:
        await conn.close()


async def _fire_counting_updates(url: str) -> tuple[int, int, int]:
    """Fire what is due in one transaction; (fired, row updates, of which HOT) in it."""
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        async with conn.transaction():  # fire_due's own transaction nests (a savepoint)
            fired = await fire_due(conn)
            updated, hot = await conn.fetchrow(
                "SELECT pg_stat_get_xact_tuples_updated('sla.timers'::regclass), "
                "pg_stat_get_xact_tuples_hot_updated('sla.timers'::regclass)"
            )
        return fired, updated, hot
    finally:
        await conn.close()


async def _open_breaches(url: str) -> list[str]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            found = await repository.open_breaches(conn, rep_id=None, pool="emea", limit=10)
        return [t.timer_id for t in found]
    finally:
        await engine.dispose()


def _indexes(url: str) -> set[str]:
    rows = asyncio.run(_fetch(url, "SELECT indexname FROM pg_indexes WHERE schemaname = 'sla'"))
    return {r[0] for r in rows}


def test_0300_queues_every_pending_timer_and_its_downgrade_gives_the_indexes_back(
    own_database: str,
) -> None:
    upgrade(SERVICE, own_database, BEFORE)
    asyncio.run(_fill(own_database))

    upgrade(SERVICE, own_database)

    queued = asyncio.run(
        _fetch(own_database, "SELECT timer_id, next_at, kind FROM sla.due ORDER BY timer_id")
    )
    assert [tuple(r) for r in queued] == [
        ("escalates", ROWS[3][3], "escalation"),
        ("later", ROWS[2][3], "breach"),
        ("overdue", ROWS[0][3], "breach"),
        ("warns", ROWS[1][3], "warning"),
    ]
    assert asyncio.run(_fetch(own_database, "SELECT count(*) FROM sla.timers"))[0][0] == len(ROWS)
    assert "timers_next_at" not in _indexes(own_database)

    # The converted overdue timer fires once, its queue row goes, its write-back is HOT,
    # and GET /v1/sla/overdue's query lists it beside the breaches that were already open.
    fired, updated, hot = asyncio.run(_fire_counting_updates(own_database))
    assert (fired, updated, hot) == (1, 1, 1)
    queued = asyncio.run(_fetch(own_database, "SELECT timer_id FROM sla.due ORDER BY 1"))
    assert [r[0] for r in queued] == ["escalates", "later", "warns"]
    assert asyncio.run(_open_breaches(own_database)) == ["chain-ended", "escalates", "overdue"]

    command.downgrade(alembic_config(SERVICE, own_database), BEFORE)
    assert {"timers_next_at", "timers_breached_due", "timers_ended"} <= _indexes(own_database)
    assert "due_next_at" not in _indexes(own_database)
    states = asyncio.run(
        _fetch(own_database, "SELECT timer_id, state FROM sla.timers WHERE state = 'breached'")
    )
    assert sorted(r[0] for r in states) == ["chain-ended", "escalates", "overdue"]


def test_a_burst_of_fired_timers_is_all_hot_updates_and_empties_the_queue(
    own_database: str,
) -> None:
    upgrade(SERVICE, own_database)
    burst = 500  # dozens of pages, each filled to half by its inserts

    async def arm() -> None:
        conn = await asyncpg.connect(asyncpg_dsn(own_database))
        try:
            async with conn.transaction():
                await conn.execute(
                    "INSERT INTO sla.timers (timer_id, lead_id, handoff_id, policy, stage, "
                    "state, started_at, due_at, next_at) SELECT 't-' || n, 'lead-' || n, "
                    "'h-' || n, 'accept-within', 'accept', 'pending', now() - interval '1 day', "
                    "now() - interval '1 second', now() - interval '1 second' "
                    "FROM generate_series(1, $1::int) AS n",
                    burst,
                )
                await conn.execute(
                    "INSERT INTO sla.due (timer_id, next_at, kind) "
                    "SELECT timer_id, next_at, 'breach' FROM sla.timers"
                )
        finally:
            await conn.close()

    asyncio.run(arm())
    fired, updated, hot = asyncio.run(_fire_counting_updates(own_database))
    assert (fired, updated, hot) == (burst, burst, burst)
    assert asyncio.run(_fetch(own_database, "SELECT count(*) FROM sla.due"))[0][0] == 0
