"""insight on the real broker and PostgreSQL: out-of-order facts land in one row, duplicates
change nothing, malformed values go to the DLQ, and a band alert is raised and cleared once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from handoff.db import UnitOfWorkFactory
from handoff.events import dlq_topic, insight, routing, scoring, sla
from handoff.messaging.consumer import BatchConsumer, Inbound
from handoff.messaging.producer import Producer, make_producer
from handoff.settings import HandoffSettings
from handoff_insight.adapters import rollups
from handoff_insight.config import InsightConfig
from handoff_insight.domain.bands import Band
from handoff_insight.entrypoints.consumer import ADAPTERS
from handoff_insight.service_layer.handlers import FunnelHandler
from tests.factories import new_id
from tests.insight_facts import (
    accepted_event,
    assigned_event,
    breached_event,
    met_event,
    mql_event,
    rejected_event,
    sql_event,
)
from tests.integration.kafka_helpers import collect, eventually

NOW = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
S = timedelta(seconds=1)
QUIET = InsightConfig(1, 60.0, ("overall", "source", "campaign", "pool"), (), 5, 20)


async def send(bootstrap: str, records: list[tuple[str, str, bytes]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for topic, key, value in records:
            await producer.send_and_wait(topic, value, key=key.encode())
    finally:
        await producer.stop()


async def row_of(engine: AsyncEngine, mql_id: str) -> Any:
    async with engine.connect() as conn:
        return (
            await conn.execute(
                text("SELECT * FROM insight.funnel WHERE mql_id = :m"), {"m": mql_id}
            )
        ).first()


async def test_out_of_order_duplicate_and_malformed_events_through_the_broker(
    engine: AsyncEngine, bootstrap: str
) -> None:
    lead, mql_id, handoff_id, source = new_id(), new_id("mql"), new_id("h"), new_id("src")
    rejected = rejected_event(lead, handoff_id, at=NOW + 30 * S)
    met = met_event(lead, handoff_id, at=NOW + 30 * S, seconds=29)
    # The rejection and the SLA outcome come first, the MQL last; the rejection comes twice.
    await send(
        bootstrap,
        [
            (routing.TOPIC, lead, rejected.to_json()),
            (sla.TOPIC, lead, met.to_json()),
            (routing.TOPIC, lead, b'{"specversion": "1.0", "type": "handoff.lead.rejected"'),
            (routing.TOPIC, lead, rejected.to_json()),
            (
                routing.TOPIC,
                lead,
                assigned_event(lead, mql_id, handoff_id, at=NOW + S, pool="jp").to_json(),
            ),
            (scoring.TOPIC, lead, mql_event(lead, mql_id, at=NOW, source=source).to_json()),
        ],
    )
    settings = HandoffSettings(kafka_bootstrap_servers=bootstrap, kafka_session_timeout_ms=6000)
    kafka = make_producer(settings, "test-insight-dlq")
    await kafka.start()
    consumer = BatchConsumer(
        name=f"test-{new_id('insight')}",
        schema="insight",
        adapters=ADAPTERS,
        handler=FunnelHandler(QUIET),
        uow_factory=UnitOfWorkFactory(engine),
        producer=Producer(kafka),
        settings=settings,
    )
    task = asyncio.create_task(consumer.run())
    try:

        async def complete() -> Any:
            row = await row_of(engine, mql_id)
            return (
                row is not None
                and row.qualified_at is not None
                and row.rejected_at is not None
                and row.sla != {"met": {}, "breached": []}
            )

        assert await eventually(complete, within=60)
        dead = await collect(
            bootstrap, dlq_topic(routing.TOPIC), lambda r: len(r) >= 1, keys={lead.encode()}
        )
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await kafka.stop()
    row = await row_of(engine, mql_id)
    assert (row.source, row.pool, row.reason_code, row.handoff_id) == (
        source,
        "jp",
        "no_budget",
        handoff_id,
    )
    assert row.sla["met"]["accept"][:2] == [29.0, 29.0]
    assert b"handoff.lead.rejected" in dead[0].value
    async with engine.connect() as conn:
        found = await rollups.sums(conn, "source", NOW.date(), NOW.date(), [source])
        parked = (
            await conn.execute(
                text("SELECT count(*) FROM insight.parked WHERE handoff_id = :h"), {"h": handoff_id}
            )
        ).scalar()
    # One MQL, one rejection (the duplicate changed nothing), the SLA met once.
    assert found[source] == {
        "mqls": 1,
        "assigned": 1,
        "rejected": 1,
        "reason:no_budget": 1,
        "sla_met:accept": 1,
    }
    assert parked == 0


async def apply(engine: AsyncEngine, config: InsightConfig, events: list[Any]) -> None:
    items = [Inbound(e, "t", 0, n) for n, e in enumerate(events)]
    async with UnitOfWorkFactory(engine)() as uow:
        await FunnelHandler(config)(uow, items)
        await uow.commit()


async def alerts_for(engine: AsyncEngine, subject: str) -> list[insight.FunnelAlert]:
    async with engine.connect() as conn:
        values = (
            await conn.execute(
                text("SELECT value FROM insight.outbox WHERE topic = :t AND key = :k ORDER BY id"),
                {"t": insight.TOPIC, "k": subject.encode()},
            )
        ).scalars()
        return [insight.FunnelAlert.model_validate_json(v) for v in values]


async def test_a_band_alert_is_raised_once_and_cleared_once(engine: AsyncEngine) -> None:
    band = Band("misaligned", "acceptance_rate", below=0.5, min_samples=4)
    config = InsightConfig(1, 60.0, ("source",), (band,), 5, 20)
    source = new_id("src")
    subject = f"source:{source}"

    async def rejected_mqls(n: int) -> None:
        for _ in range(n):
            lead, mql_id, h = new_id(), new_id("mql"), new_id("h")
            await apply(
                engine,
                config,
                [
                    mql_event(lead, mql_id, at=NOW, source=source),
                    assigned_event(lead, mql_id, h, at=NOW + S, pool="jp"),
                    rejected_event(lead, h, at=NOW + 9 * S),
                ],
            )

    await rejected_mqls(3)
    assert await alerts_for(engine, subject) == []  # three decided: too few to judge
    await rejected_mqls(3)  # six rejected of six: in the band
    raised = await alerts_for(engine, subject)
    assert [
        (a.data.state, a.data.band, a.data.group, a.data.samples, a.data.value) for a in raised
    ] == [("raised", "misaligned", source, 4, 0.0)]
    for _ in range(8):  # accepted MQLs lift the rate out of the band: cleared once
        lead, mql_id, h = new_id(), new_id("mql"), new_id("h")
        await apply(
            engine,
            config,
            [
                mql_event(lead, mql_id, at=NOW, source=source),
                assigned_event(lead, mql_id, h, at=NOW + S, pool="jp"),
                accepted_event(lead, h, at=NOW + 9 * S),
                sql_event(lead, h, at=NOW + 99 * S),
                breached_event(lead, h, at=NOW + 5 * S),
            ],
        )
    states = [(a.data.state, a.data.samples) for a in await alerts_for(engine, subject)]
    # Cleared at 6 accepted of 12 decided (50%), and not again while it stays healthy.
    assert states == [("raised", 4), ("cleared", 12)]
    assert raised[0].data.alert_id == (await alerts_for(engine, subject))[1].data.alert_id


async def test_one_handler_judges_the_touched_groups_once_per_evaluate_every(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Batches inside the cadence are not judged; their groups are judged by the first batch
    after it, so an alert comes late by at most evaluate_every and is still raised once."""
    from handoff_insight.service_layer import handlers

    clock = [1000.0]
    # The handler's own clock only (raising=False: the name need not exist to patch it).
    monkeypatch.setattr(
        handlers, "time", SimpleNamespace(monotonic=lambda: clock[0]), raising=False
    )
    band = Band("misaligned", "acceptance_rate", below=0.5, min_samples=4)
    handler = FunnelHandler(InsightConfig(1, 60.0, ("source",), (band,), 5, 20))
    source = new_id("src")
    subject = f"source:{source}"

    async def rejected_mqls(n: int, src: str) -> None:
        events: list[Any] = []
        for _ in range(n):
            lead, mql_id, h = new_id(), new_id("mql"), new_id("h")
            events += [
                mql_event(lead, mql_id, at=NOW, source=src),
                assigned_event(lead, mql_id, h, at=NOW + S, pool="jp"),
                rejected_event(lead, h, at=NOW + 9 * S),
            ]
        items = [Inbound(e, "t", 0, n) for n, e in enumerate(events)]
        async with UnitOfWorkFactory(engine)() as uow:
            await handler(uow, items)
            await uow.commit()

    await rejected_mqls(2, source)  # the first batch is judged at once: too few samples
    await rejected_mqls(4, source)  # six rejected of six, but 0 s after the last judging
    clock[0] += 59.0
    await rejected_mqls(1, new_id("src"))  # another source, still inside the cadence
    assert await alerts_for(engine, subject) == []
    clock[0] += 1.0
    await rejected_mqls(1, new_id("src"))  # the cadence is due: the remembered group is judged
    raised = await alerts_for(engine, subject)
    assert [(a.data.state, a.data.samples) for a in raised] == [("raised", 6)]
    clock[0] += 60.0
    await rejected_mqls(1, source)  # still in the band: no second alert
    assert len(await alerts_for(engine, subject)) == 1


async def test_metrics_export_only_the_largest_groups_per_dimension(engine: AsyncEngine) -> None:
    from prometheus_client import REGISTRY

    from handoff_insight.service_layer.sweep import refresh_gauges

    config = InsightConfig(1, 60.0, ("source",), (), 5, 3)
    for _ in range(5):  # five more sources, so there are more than three to choose from
        lead, mql_id, h = new_id(), new_id("mql"), new_id("h")
        await apply(
            engine,
            config,
            [
                mql_event(lead, mql_id, at=NOW, source=new_id("src")),
                assigned_event(lead, mql_id, h, at=NOW + S, pool="jp"),
                accepted_event(lead, h, at=NOW + 9 * S),
            ],
        )
    await refresh_gauges(UnitOfWorkFactory(engine), config)
    sources = {
        s.labels["group"]
        for metric in REGISTRY.collect()
        if metric.name == "handoff_funnel_mqls"
        for s in metric.samples
        if s.labels["group_by"] == "source"
    }
    assert len(sources) == 3
    overall = REGISTRY.get_sample_value(
        "handoff_funnel_mqls", {"group_by": "overall", "group": "all"}
    )
    assert overall is not None and overall >= 5


async def test_the_same_journeys_one_event_per_batch_in_reverse_give_the_same_numbers(
    engine: AsyncEngine,
) -> None:
    """Across batches (so facts wait in `parked` for their assignment), order changes nothing."""
    forward, backward = new_id("src"), new_id("src")

    def journeys(source: str) -> list[Any]:
        events: list[Any] = []
        for outcome in ("accepted", "sql", "rejected", "breached"):
            lead, mql_id, h = new_id(), new_id("mql"), new_id("h")
            events += [
                mql_event(lead, mql_id, at=NOW, source=source),
                assigned_event(lead, mql_id, h, at=NOW + S, pool="jp"),
            ]
            if outcome in ("accepted", "sql"):
                events += [
                    accepted_event(lead, h, at=NOW + 61 * S),
                    met_event(lead, h, at=NOW + 61 * S),
                ]
            if outcome == "sql":
                events.append(sql_event(lead, h, at=NOW + 300 * S))
            if outcome == "rejected":
                events += [
                    rejected_event(lead, h, at=NOW + 20 * S),
                    met_event(lead, h, at=NOW + 20 * S),
                ]
            if outcome == "breached":
                events.append(breached_event(lead, h, at=NOW + 400 * S))
        return events

    await apply(engine, QUIET, journeys(forward))
    for event in reversed(journeys(backward)):
        await apply(engine, QUIET, [event])
    async with engine.connect() as conn:
        found = await rollups.sums(conn, "source", NOW.date(), NOW.date(), [forward, backward])
    assert found[forward]["mqls"] == 4 and found[forward]["sql"] == 1
    assert found[backward] == found[forward]
