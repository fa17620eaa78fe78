"""The scoring handler on real PostgreSQL: state persists between batches, late events count
in time order, cycles follow routing's recycles, and events land in the outbox."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from handoff.db import UnitOfWorkFactory
from handoff.events import routing, scoring, signals
from handoff.messaging.consumer import Inbound
from handoff_scoring.adapters import leads
from handoff_scoring.config import load_model
from handoff_scoring.domain.model import ScoreChanged, ScoringModel
from handoff_scoring.service_layer.handlers import SignalHandler
from tests.factories import T0, activity, identify, new_id

REPO = Path(__file__).resolve().parents[3]
MODEL = load_model(REPO / "config" / "scoring.yaml")


def inbound(events: list[Any]) -> list[Inbound[Any]]:
    return [
        Inbound(e, routing.TOPIC if e.type.startswith("handoff.lead") else signals.TOPIC, 0, n)
        for n, e in enumerate(events)
    ]


async def apply(engine: AsyncEngine, events: list[Any], model: ScoringModel = MODEL) -> None:
    async with UnitOfWorkFactory(engine)() as uow:
        await SignalHandler(model)(uow, inbound(events))
        await uow.commit()


async def published(engine: AsyncEngine, lead_id: str) -> list[Any]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT value FROM scoring.outbox WHERE key = :k ORDER BY id"),
            {"k": lead_id.encode()},
        )
        return [scoring.scoring_event_adapter.validate_json(r.value) for r in rows]


async def mqls_for(engine: AsyncEngine, lead_id: str) -> list[scoring.LeadMql]:
    return [e for e in await published(engine, lead_id) if isinstance(e, scoring.LeadMql)]


async def stored(engine: AsyncEngine, lead_id: str) -> leads.StoredLead | None:
    async with engine.connect() as conn:
        return await leads.get(conn, lead_id)


def recycled(lead_id: str, until_days: int) -> routing.LeadRecycled:
    return routing.LeadRecycled(
        id=new_id("evt"),
        subject=lead_id,
        data=routing.RecycledData(
            lead_id=lead_id,
            handoff_id="h-1",
            rep_id="rep-1",
            at=T0 + timedelta(days=1),
            until=T0 + timedelta(days=until_days),
        ),
    )


def rejected(lead_id: str, reason_code: str, follow_up: str | None) -> routing.LeadRejected:
    return routing.LeadRejected(
        id=new_id("evt"),
        subject=lead_id,
        data=routing.RejectedData(
            lead_id=lead_id,
            handoff_id="h-1",
            rep_id="rep-1",
            at=T0 + timedelta(days=1),
            reason_code=reason_code,
            follow_up=follow_up,
        ),
    )


def dispositioned(lead_id: str, outcome: str) -> routing.LeadDispositioned:
    return routing.LeadDispositioned(
        id=new_id("evt"),
        subject=lead_id,
        data=routing.DispositionedData(
            lead_id=lead_id,
            handoff_id="h-1",
            rep_id="rep-1",
            at=T0 + timedelta(days=1),
            outcome=outcome,
        ),
    )


async def test_scores_persist_across_batches_and_the_mql_explains_itself(
    engine: AsyncEngine,
) -> None:
    lead = new_id()
    await apply(engine, [identify(lead, title="本部長", company={"size": 300, "country": "JP"})])
    await apply(
        engine,
        [activity(lead, "pricing_page_view", at=T0 + timedelta(minutes=i)) for i in range(1)],
    )
    assert await mqls_for(engine, lead) == []
    await apply(engine, [activity(lead, "pricing_page_view", at=T0 + timedelta(minutes=5))])
    (mql,) = await mqls_for(engine, lead)
    data = mql.data
    assert (data.score, data.engagement_score, data.fit_score, data.fit_grade) == (70, 30, 40, "A")
    assert data.cycle == 1 and data.model_version == MODEL.version and mql.id == data.mql_id
    assert (data.trigger.kind, data.trigger.rule) == ("threshold", "score >= 60")
    assert data.reason == "Visited pricing twice today; 本部長 at a 300-person company in JP."
    assert data.contributions[0].rule == "pricing-page" and data.contributions[0].count == 2
    found = await stored(engine, lead)
    assert found is not None and found.score == 70 and found.mql_id == data.mql_id


async def test_a_late_event_in_a_later_batch_counts_as_if_in_order(engine: AsyncEngine) -> None:
    lead = new_id()
    await apply(engine, [activity(lead, "content_download", at=T0 + timedelta(days=40))])
    await apply(engine, [activity(lead, "content_download", at=T0)])
    found = await stored(engine, lead)
    assert found is not None
    # 8 now + 8 halved after 40 days of a 30-day half-life = 8 + 3.17
    assert found.score == 11
    assert [e[0] for e in found.lead.history] == sorted(e[0] for e in found.lead.history)


async def test_a_late_event_the_history_loader_missed_is_applied_again_with_the_history(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Should needs_history ever miss a case, the domain refuses to work on part of a history
    # and the batch is applied again with whole histories: the signal counts, nothing is lost.
    lead = new_id()
    await apply(engine, [activity(lead, "content_download", at=T0 + timedelta(days=40))])
    monkeypatch.setattr(SignalHandler, "needing_history", lambda *_: [])
    await apply(engine, [activity(lead, "content_download", at=T0)])
    found = await stored(engine, lead)
    assert found is not None and found.score == 11 and len(found.lead.history) == 2


async def test_the_activity_log_is_trimmed_to_the_retention_once_it_runs_past_it(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    # max_activities 10: the log may hold 10 x 1.5 + 16 = 31; the signal that finds 32 loads
    # it, cuts it to the newest 10 and rewrites it; appends go on from there.
    shipped = (REPO / "config" / "scoring.yaml").read_text(encoding="utf-8")
    assert "max_activities: 1000" in shipped
    (tmp_path / "scoring.yaml").write_text(
        shipped.replace("max_activities: 1000", "max_activities: 10"), encoding="utf-8"
    )
    model = load_model(tmp_path / "scoring.yaml")
    lead = new_id()
    for minute in range(40):
        await apply(engine, [activity(lead, "page_view", at=T0 + timedelta(minutes=minute))], model)
    async with engine.connect() as conn:
        logged = await conn.scalar(
            text("SELECT count(*) FROM scoring.activities WHERE lead_id = :id"), {"id": lead}
        )
    assert logged == 10 + (40 - 33)  # trimmed by the 33rd, then 7 more appended
    found = await stored(engine, lead)
    assert found is not None and found.lead.activity_count == logged


async def test_disqualification_is_published_with_its_reason_and_blocks_the_mql(
    engine: AsyncEngine,
) -> None:
    lead = new_id()
    await apply(engine, [identify(lead, email="someone@gmail.com"), activity(lead, "demo_request")])
    events = await published(engine, lead)
    assert [type(e) for e in events] == [scoring.LeadDisqualified]
    assert events[0].data.reason_code == "free_mail" and events[0].data.rule == "free-mail"
    found = await stored(engine, lead)
    assert found is not None and found.lead.disqualified == "free_mail"


async def test_a_recycled_lead_can_qualify_again_in_a_new_cycle(engine: AsyncEngine) -> None:
    lead = new_id()
    await apply(engine, [activity(lead, "demo_request")])
    await apply(engine, [recycled(lead, until_days=30)])
    await apply(engine, [activity(lead, "demo_request", at=T0 + timedelta(days=10))])
    assert len(await mqls_for(engine, lead)) == 1  # still in the recycle period
    await apply(engine, [activity(lead, "demo_request", at=T0 + timedelta(days=31))])
    first, second = await mqls_for(engine, lead)
    assert (first.data.cycle, second.data.cycle) == (1, 2)
    assert first.data.mql_id != second.data.mql_id
    found = await stored(engine, lead)
    assert found is not None and found.mql_id == second.data.mql_id


async def test_a_do_not_call_rejection_closes_the_cycle_as_a_disqualified_disposition(
    engine: AsyncEngine,
) -> None:
    lead, reassigned = new_id(), new_id()
    await apply(engine, [activity(lead, "demo_request"), activity(reassigned, "demo_request")])
    await apply(
        engine,
        [
            rejected(lead, "do_not_call", "disqualified"),
            rejected(reassigned, "wrong_territory", "reassigned"),
        ],
    )
    found = await stored(engine, lead)
    assert found is not None and found.lead.closed
    other = await stored(engine, reassigned)
    assert other is not None and not other.lead.closed and other.lead.is_mql
    # closed for good (cycles.disqualified: never): no later activity makes it an MQL again
    await apply(engine, [activity(lead, "demo_request", at=T0 + timedelta(days=400))])
    assert len(await mqls_for(engine, lead)) == 1


async def test_a_rejection_of_a_lead_scoring_never_saw_stores_nothing(engine: AsyncEngine) -> None:
    lead = new_id()
    await apply(engine, [rejected(lead, "wrong_territory", "reassigned")])
    assert await stored(engine, lead) is None


async def test_an_alias_folds_anonymous_activity_into_the_lead(engine: AsyncEngine) -> None:
    anonymous, known = new_id("anon"), new_id()
    await apply(engine, [activity(anonymous, "pricing_page_view") for _ in range(3)])
    alias = signals.AliasSignal(
        id=new_id("evt"),
        source="/tests",
        subject=known,
        data=signals.AliasData(lead_id=known, previous_id=anonymous),
    )
    await apply(engine, [activity(known, "pricing_page_view"), alias])
    assert await stored(engine, anonymous) is None
    found = await stored(engine, known)
    assert found is not None and found.score == 60 and len(found.lead.history) == 4
    assert len(await mqls_for(engine, known)) == 1


async def test_score_changes_are_published_at_most_once_an_hour_per_lead(
    engine: AsyncEngine,
) -> None:
    lead = new_id()
    model = replace(MODEL, score_changed=ScoreChanged(every=3600, min_change=5))
    for minutes in (0, 10, 61):
        await apply(
            engine, [activity(lead, "content_download", at=T0 + timedelta(minutes=minutes))], model
        )
    changes = [e for e in await published(engine, lead) if isinstance(e, scoring.LeadScoreChanged)]
    assert [(c.data.score, c.data.previous_score) for c in changes] == [(8, None), (24, 8)]


async def test_a_signal_dated_past_the_bound_is_dropped_and_counted(engine: AsyncEngine) -> None:
    """Produced straight to the topic (no API to refuse it), a skewed signal must not score,
    qualify or open a recycled cycle early; one within the bound still does."""
    lead = new_id()
    now = datetime.now(UTC)
    dropped = REGISTRY.get_sample_value("handoff_scoring_future_signals_dropped_total") or 0.0
    bounded = SignalHandler(MODEL, max_future_seconds=300)
    async with UnitOfWorkFactory(engine)() as uow:
        await bounded(uow, inbound([activity(lead, "demo_request", at=now + timedelta(days=2))]))
        await uow.commit()
    assert await stored(engine, lead) is None and await mqls_for(engine, lead) == []
    assert REGISTRY.get_sample_value("handoff_scoring_future_signals_dropped_total") == dropped + 1
    async with UnitOfWorkFactory(engine)() as uow:
        await bounded(uow, inbound([activity(lead, "demo_request", at=now + timedelta(minutes=1))]))
        await uow.commit()
    assert len(await mqls_for(engine, lead)) == 1
