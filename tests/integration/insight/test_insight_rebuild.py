"""`handoff insight rebuild`: the read model replayed from the topics' earliest offsets, twice,
gives the same numbers; rows the topics never carried are gone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from handoff.events import routing, scoring
from handoff_insight.adapters import rollups
from handoff_insight.entrypoints.cli import rebuild
from tests.factories import new_id
from tests.insight_facts import accepted_event, assigned_event, mql_event, rejected_event
from tests.integration.insight.test_insight_funnel import send

NOW = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
S = timedelta(seconds=1)


async def test_rebuild_replays_the_topics_into_fresh_tables_and_is_idempotent(
    engine: AsyncEngine, bootstrap: str, database_url: str, config_dir: Path
) -> None:
    source = new_id("src")
    records = []
    for n in range(3):
        lead, mql_id, h = new_id(), new_id("mql"), new_id("h")
        decided = (
            accepted_event(lead, h, at=NOW + 9 * S)
            if n
            else rejected_event(lead, h, at=NOW + 9 * S)
        )
        records += [
            (routing.TOPIC, lead, decided.to_json()),  # before its assignment: parked, then joined
            (routing.TOPIC, lead, assigned_event(lead, mql_id, h, at=NOW + S, pool="jp").to_json()),
            (scoring.TOPIC, lead, mql_event(lead, mql_id, at=NOW, source=source).to_json()),
        ]
    await send(bootstrap, records)
    async with engine.begin() as conn:  # a row no topic carries: a rebuild must drop it
        await conn.execute(
            text(
                "INSERT INTO insight.rollup (dim, day, value, counters) "
                "VALUES ('source', :day, :v, '{\"mqls\": 99}')"
            ),
            {"day": NOW.date(), "v": source + "-stale"},
        )
    group = new_id("rebuild")

    async def numbers() -> dict[str, dict[str, int]]:
        async with engine.connect() as conn:
            return await rollups.sums(
                conn, "source", NOW.date(), NOW.date(), [source, source + "-stale"]
            )

    first = await rebuild(
        database_url, bootstrap, config_dir / "insight.yaml", group_id=group, idle_seconds=3
    )
    assert first.events >= 9
    after_one = await numbers()
    assert after_one == {
        source: {
            "mqls": 3,
            "assigned": 3,
            "accepted": 2,
            "rejected": 1,
            "reason:no_budget": 1,
            f"accept_secs:{0}": 2,
        }
    }
    await rebuild(
        database_url, bootstrap, config_dir / "insight.yaml", group_id=group, idle_seconds=3
    )
    assert await numbers() == after_one
