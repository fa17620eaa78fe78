"""Scoring through the broker and the database: the service's own consumer wiring (signals and
routing's recycles and rejections, other routing events skipped), GET /v1/leads/{id}/score, and rescore."""

from __future__ import annotations

import asyncio
import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from handoff.cli import main as handoff_cli
from handoff.db import UnitOfWorkFactory
from handoff.events import routing, signals
from handoff.http.auth import KeyRing, new_api_key
from handoff.messaging.consumer import BatchConsumer
from handoff.messaging.producer import Message, Producer
from handoff.settings import HandoffSettings
from handoff_scoring.app import create_app
from handoff_scoring.config import load_model
from handoff_scoring.entrypoints import rescore
from handoff_scoring.entrypoints.consumer import CONSUMES, cycle_event_adapter
from handoff_scoring.entrypoints.deps import ScoringDeps
from handoff_scoring.service_layer.handlers import SignalHandler
from handoff_scoring.settings import ScoringSettings
from tests.factories import T0, activity, identify, new_id
from tests.integration.kafka_helpers import eventually
from tests.integration.scoring.test_scoring_handler import (
    MODEL,
    apply,
    dispositioned,
    mqls_for,
    recycled,
    rejected,
    stored,
)

REPO = Path(__file__).resolve().parents[3]


async def test_the_consumer_reads_signals_recycles_and_rejections_and_skips_other_events(
    engine: AsyncEngine, database_url: str, bootstrap: str
) -> None:
    suffix = os.urandom(3).hex()
    signal_topic, routing_topic = f"test.signals.{suffix}", f"test.routing.{suffix}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(t, 2, 1) for t in (signal_topic, routing_topic)])
    finally:
        await admin.close()
    assert set(CONSUMES.adapters) == {signals.TOPIC, routing.TOPIC}
    kafka = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await kafka.start()
    settings = HandoffSettings(database_url=database_url, kafka_bootstrap_servers=bootstrap)
    consumer = BatchConsumer(
        name=f"test-scoring-{suffix}",
        schema="scoring",
        adapters={signal_topic: signals.signal_adapter, routing_topic: cycle_event_adapter},
        handler=SignalHandler(MODEL),
        uow_factory=UnitOfWorkFactory(engine),
        producer=Producer(kafka),
        settings=settings,
    )
    task = asyncio.create_task(consumer.run())
    lead = new_id()
    producer = Producer(kafka)
    try:
        await producer.send_all([Message.of(signal_topic, activity(lead, "demo_request"))])
        assert await eventually(lambda: _count_mqls(engine, lead, 1))
        assigned = routing.LeadAssigned(
            id=new_id("evt"),
            subject=lead,
            data=routing.AssignedData(
                lead_id=lead, handoff_id="h", mql_id="m", rep_id="r", pool="p", rule="x",
                assigned_at=T0, decision=[],
            ),
        )  # fmt: skip
        await producer.send_all(
            [Message.of(routing_topic, assigned), Message.of(routing_topic, recycled(lead, 30))]
        )

        async def cycle_two() -> bool:
            found = await stored(engine, lead)
            return found is not None and found.lead.cycle == 2

        assert await eventually(cycle_two)
        # A rejection whose follow-up disqualifies is read off the topic and closes the cycle.
        dropped = new_id()
        await producer.send_all([Message.of(signal_topic, activity(dropped, "demo_request"))])
        assert await eventually(lambda: _count_mqls(engine, dropped, 1))
        await producer.send_all(
            [Message.of(routing_topic, rejected(dropped, "do_not_call", "disqualified"))]
        )

        async def closed() -> bool:
            found = await stored(engine, dropped)
            return found is not None and found.lead.closed

        assert await eventually(closed)
        later = activity(lead, "demo_request", at=T0 + timedelta(days=31))
        await producer.send_all([Message.of(signal_topic, later)])
        assert await eventually(lambda: _count_mqls(engine, lead, 2))
        assert not consumer.halted and consumer.dead_in_row == 0
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await kafka.stop()


async def _count_mqls(engine: AsyncEngine, lead: str, n: int) -> bool:
    return len(await mqls_for(engine, lead)) == n


async def test_the_score_route_explains_the_lead_with_recent_history(engine: AsyncEngine) -> None:
    lead = new_id()
    await apply(
        engine,
        [
            identify(lead, title="CTO", company={"size": 120, "industry": "Software"}),
            activity(lead, "content_download", asset="roi-guide"),
            activity(lead, "page_view", at=T0 + timedelta(hours=1), url="/ja/pricing"),
        ],
    )
    secret, record = new_api_key("reader", ["read"])
    settings = ScoringSettings(config_dir=REPO / "config")
    app = create_app(settings)
    app.state.keyring = KeyRing([record])
    app.state.deps = ScoringDeps(settings, engine, UnitOfWorkFactory(engine), MODEL)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app), base_url="http://scoring"
    ) as client:
        resp = await client.get(
            f"/v1/leads/{lead}/score", headers={"Authorization": f"Bearer {secret}"}
        )
        missing = await client.get(
            "/v1/leads/nobody/score", headers={"Authorization": f"Bearer {secret}"}
        )
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    assert (body["engagement_score"], body["fit_score"], body["fit_grade"]) == (24, 45, "A")
    assert body["score"] == 69 and body["mql"]["state"] == "mql"
    assert body["mql"]["trigger"] == {"kind": "threshold", "rule": "score >= 60"}
    assert body["fit"]["rules"] == ["mid-market", "senior-title", "target-industry"]
    assert [c["rule"] for c in body["contributions"]] == [
        "pricing-url",
        "content-download",
        "page-views",
    ]
    assert [a["activity_type"] for a in body["recent"]] == ["page_view", "content_download"]
    assert body["recent"][0]["rules"] == ["page-views", "pricing-url"]
    assert body["score_now"] <= body["score"]
    assert body["reason"].endswith("CTO at a 120-person Software company.")
    assert missing.status_code == 404


@pytest.mark.parametrize("how", ["disposition", "do_not_call"])
async def test_the_score_route_reports_closed_after_sales_disqualified_an_mql(
    engine: AsyncEngine, how: str
) -> None:
    lead = new_id()
    await apply(engine, [activity(lead, "demo_request")])
    closing = dispositioned(lead, "disqualified") if how == "disposition" else None
    await apply(engine, [closing or rejected(lead, "do_not_call", "disqualified")])
    secret, record = new_api_key("reader", ["read"])
    settings = ScoringSettings(config_dir=REPO / "config")
    app = create_app(settings)
    app.state.keyring = KeyRing([record])
    app.state.deps = ScoringDeps(settings, engine, UnitOfWorkFactory(engine), MODEL)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app), base_url="http://scoring"
    ) as client:
        resp = await client.get(
            f"/v1/leads/{lead}/score", headers={"Authorization": f"Bearer {secret}"}
        )
    assert resp.status_code == 200, resp.text
    mql = resp.json()["mql"]
    assert mql["state"] == "closed"
    assert mql["cycle"] == 1 and mql["mql_id"] is not None  # the cycle's MQL still stands


async def test_rescore_reports_what_another_model_would_change(
    engine: AsyncEngine, database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    leads = [new_id("R") for _ in range(3)]
    await apply(engine, [activity(leads[0], "demo_request")])  # an MQL under every model
    await apply(engine, [activity(leads[1], "pricing_page_view") for _ in range(3)])  # 45
    await apply(engine, [activity(leads[2], "page_view")])
    stricter = (REPO / "config" / "scoring.yaml").read_text(encoding="utf-8")
    stricter = stricter.replace('model_version: "2026-11-v2"', 'model_version: "try-1"')
    stricter = stricter.replace("threshold: 60", "threshold: 40")
    model_file = tmp_path / "scoring.yaml"
    model_file.write_text(stricter, encoding="utf-8")

    report = await rescore.rescore(database_url, load_model(model_file), dry_run=True)
    assert leads[1] in report.gained and leads[0] not in report.gained + report.lost
    assert leads[2] not in report.gained
    async with engine.connect() as conn:
        version = await conn.scalar(
            text("SELECT model_version FROM scoring.leads WHERE lead_id = :l"), {"l": leads[1]}
        )
    assert version == MODEL.version  # a dry run writes nothing

    argv = ["scoring", "rescore", "--model", str(model_file), "--database-url", database_url]
    assert await asyncio.to_thread(handoff_cli, argv) == 0
    printed = capsys.readouterr().out
    assert "under model try-1" in printed and "would become MQLs" in printed
    found = await stored(engine, leads[1])
    assert found is not None and found.model_version == "try-1" and not found.lead.is_mql


async def test_rescore_refuses_an_invalid_model(database_url: str, tmp_path: Path) -> None:
    bad = tmp_path / "scoring.yaml"
    bad.write_text("model_version: x\nthreshold: 0\nbehaviour: []\n", encoding="utf-8")
    assert await asyncio.to_thread(rescore.main, str(bad), database_url, True) == 2
