"""Each running service prunes its own aged rows: nothing stays for ever (issue 10, point 3)."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.e2e.conftest import System
from tests.factories import new_id
from tests.integration.kafka_helpers import eventually

AGED = "now() - interval '60 days'"


async def test_rows_aged_60_days_are_gone_while_the_services_run(
    system: System, engine: AsyncEngine
) -> None:
    tag = new_id("aged")
    async with engine.begin() as conn:
        for schema in ("scoring", "routing", "sla"):
            await conn.execute(
                text(
                    f"INSERT INTO {schema}.inbox (source, event_id, processed_at) "
                    f"VALUES (:tag, 'evt', {AGED})"
                ),
                {"tag": tag},
            )
        await conn.execute(
            text(
                "INSERT INTO ingress.webhook_deliveries (source, delivery_id, received_at) "
                f"VALUES (:tag, 'd', {AGED})"
            ),
            {"tag": tag},
        )
        await conn.execute(
            text(
                "INSERT INTO sla.timers (timer_id, lead_id, handoff_id, policy, stage, state, "
                f"started_at, due_at, stopped_at) VALUES (:tag, :tag, :tag, 'accept-within', "
                f"'accept', 'met', {AGED}, {AGED}, {AGED})"
            ),
            {"tag": tag},
        )

    async def remaining() -> int:
        async with engine.connect() as conn:
            return int(
                await conn.scalar(
                    text(
                        "SELECT (SELECT count(*) FROM scoring.inbox WHERE source = :tag)"
                        " + (SELECT count(*) FROM routing.inbox WHERE source = :tag)"
                        " + (SELECT count(*) FROM sla.inbox WHERE source = :tag)"
                        " + (SELECT count(*) FROM ingress.webhook_deliveries WHERE source = :tag)"
                        " + (SELECT count(*) FROM sla.timers WHERE timer_id = :tag)"
                    ),
                    {"tag": tag},
                )
                or 0
            )

    async def none_left() -> bool:
        return await remaining() == 0

    assert await remaining() == 5
    assert await eventually(none_left, within=20)
