"""The scoring handler on real PostgreSQL: scores persist, one MQL per cycle lands in the outbox."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from handoff.db import UnitOfWorkFactory
from handoff.events import scoring
from handoff.messaging.consumer import Inbound
from handoff_scoring.adapters import repository
from handoff_scoring.domain.model import ScoringModel
from handoff_scoring.handlers import SignalHandler
from tests.factories import activity, identify, new_id

MODEL = ScoringModel(version="it", threshold=60, points={"pricing_page_view": 15, "page_view": 1})


def inbound(events: list[Any]) -> list[Inbound[Any]]:
    return [Inbound(e, "handoff.signals.v1", 0, n) for n, e in enumerate(events)]


async def apply(engine: AsyncEngine, events: list[Any]) -> None:
    async with UnitOfWorkFactory(engine)() as uow:
        await SignalHandler(MODEL)(uow, inbound(events))
        await uow.commit()


async def mqls_for(engine: AsyncEngine, lead_id: str) -> list[scoring.LeadMql]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT value FROM scoring.outbox WHERE key = :k ORDER BY id"),
            {"k": lead_id.encode()},
        )
        return [scoring.scoring_event_adapter.validate_json(r.value) for r in rows]  # type: ignore[misc]


async def test_scores_accumulate_across_batches_and_qualify_once(engine: AsyncEngine) -> None:
    lead = new_id()
    await apply(engine, [identify(lead, title="本部長", company={"size": 300, "country": "JP"})])
    await apply(engine, [activity(lead, "pricing_page_view") for _ in range(3)])
    assert await mqls_for(engine, lead) == []
    await apply(engine, [activity(lead, "pricing_page_view") for _ in range(3)])
    await apply(engine, [activity(lead, "pricing_page_view")])
    mqls = await mqls_for(engine, lead)
    assert len(mqls) == 1
    data = mqls[0].data
    assert data.score == 60 and data.cycle == 1 and data.model_version == "it"
    assert data.trigger.kind == "threshold"
    assert "本部長" in data.reason and "4 pricing page views" in data.reason
    assert data.contributions[0].activity_type == "pricing_page_view"
    assert mqls[0].id == data.mql_id
    async with engine.connect() as conn:
        found = await repository.get(conn, lead)
    assert found is not None and found[0].score == 105 and found[1] == data.mql_id


async def test_an_alias_folds_anonymous_activity_into_the_lead(engine: AsyncEngine) -> None:
    anonymous, known = new_id("anon"), new_id()
    await apply(engine, [activity(anonymous, "pricing_page_view") for _ in range(4)])
    from handoff.events import signals

    alias = signals.AliasSignal(
        id=new_id("evt"),
        source="/tests",
        subject=known,
        data=signals.AliasData(lead_id=known, previous_id=anonymous),
    )
    await apply(engine, [activity(known, "page_view"), alias])
    async with engine.connect() as conn:
        assert await repository.get(conn, anonymous) is None
        found = await repository.get(conn, known)
    assert found is not None and found[0].score == 61
    assert len(await mqls_for(engine, known)) == 1
