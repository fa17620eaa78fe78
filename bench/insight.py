"""Insight: its consumer rate beside the null pipeline in the same run, and GET /v1/funnel's p99
over 1,000,000 MQL rows for a 30-day window grouped by source.

1. Funnel events (MQL, assigned, accepted or rejected, SLA met or breached, some SQL) for
   `--mqls` MQLs go to one fresh topic. The null pipeline (consume, parse, one upsert per
   batch, commit) and the real insight consumer (BatchConsumer, inbox, FunnelHandler: rows,
   rollup, band judging) each read all of them; rounds alternate. Goal: ratio >= 0.5.
2. `--rows` funnel rows are bulk-inserted with generate_series over 90 days, the daily
   rollup is built from them in SQL, and `python -m handoff_insight` answers `--requests`
   GET /v1/funnel?window=30d&by=source in a row. Goal: p99 < 200 ms.

    make bench            # or: uv run python -m bench insight
    uv run python -m bench.insight --mqls 200 --rows 2000 --requests 20   # smoke
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import httpx
from pydantic import Field, TypeAdapter
from sqlalchemy import text

from bench import results
from bench.pipeline import create_topic, null_pipeline, percentile, service_pipeline
from handoff.db import create_engine
from handoff.events import routing, scoring, sla
from handoff.logs import configure_logging
from handoff.messaging.producer import Message, Producer, make_producer
from handoff.runtime import tune_gc
from handoff.settings import HandoffSettings
from handoff_dev.ports import free_port
from handoff_dev.processes import ServiceProcess
from handoff_dev.stack import DevStack
from handoff_insight.config import load_config
from handoff_insight.service_layer.handlers import FunnelHandler
from handoff_insight.settings import SERVICE

REPO = Path(__file__).resolve().parent.parent
TARGET_RATIO, TARGET_P99_MS = 0.5, 200.0
SOURCES = ("web", "hubspot", "marketo", "segment", "webinar", "ads", "partner", "event")
REASONS = ("no_budget", "not_decision_maker", "bad_contact_info", "wrong_territory")

# Every funnel event on one topic, so the null pipeline and insight read the same records.
FunnelEvent = Annotated[
    scoring.LeadMql
    | routing.LeadAssigned
    | routing.LeadAccepted
    | routing.LeadRejected
    | routing.LeadDispositioned
    | sla.SlaMet
    | sla.SlaBreached,
    Field(discriminator="type"),
]
funnel_adapter: TypeAdapter[Any] = TypeAdapter(FunnelEvent)


def journey(prefix: str, n: int, rng: random.Random, at: datetime) -> list[Any]:
    lead, mql_id, h = f"B-{prefix}-{n}", f"mql-{prefix}-{n}", f"h-{prefix}-{n}"
    s = timedelta(seconds=1)
    events: list[Any] = [
        scoring.LeadMql(
            id=f"e-{mql_id}",
            subject=lead,
            data=scoring.MqlData(
                lead_id=lead,
                mql_id=mql_id,
                cycle=1,
                score=rng.randrange(60, 100),
                engagement_score=60,
                fit_score=0,
                fit_grade="B",
                model_version="bench",
                trigger=scoring.Trigger(kind="threshold", rule="score >= 60"),
                reason="bench",
                contributions=[
                    scoring.Contribution(
                        activity_type="page_view", count=3, points=15, rule="page_views"
                    )
                ],
                qualified_at=at,
                source=rng.choice(SOURCES),
                campaign=f"c{rng.randrange(30)}",
            ),
        ),
        routing.LeadAssigned(
            id=f"a-{h}",
            subject=lead,
            data=routing.AssignedData(
                lead_id=lead,
                handoff_id=h,
                mql_id=mql_id,
                rep_id=f"rep-{n % 40}",
                pool=f"pool-{n % 3}",
                rule="bench",
                assigned_at=at + s,
                decision=[],
            ),
        ),
    ]
    roll = rng.random()
    if roll < 0.6:
        events.append(
            routing.LeadAccepted(
                id=f"ac-{h}",
                subject=lead,
                data=routing.HandoffActionData(
                    lead_id=lead, handoff_id=h, rep_id=f"rep-{n % 40}", at=at + 90 * s
                ),
            )
        )
    elif roll < 0.85:
        events.append(
            routing.LeadRejected(
                id=f"rj-{h}",
                subject=lead,
                data=routing.RejectedData(
                    lead_id=lead,
                    handoff_id=h,
                    rep_id=f"rep-{n % 40}",
                    at=at + 60 * s,
                    reason_code=rng.choice(REASONS),
                ),
            )
        )
    if roll < 0.85:
        events.append(
            sla.SlaMet(
                id=f"m-{h}",
                subject=lead,
                data=sla.MetData(
                    lead_id=lead,
                    handoff_id=h,
                    timer_id=f"t-{h}",
                    policy="accept",
                    stage="accept",
                    due_at=at + 3600 * s,
                    met_at=at + 60 * s,
                    elapsed=sla.Elapsed(wall_seconds=60, business_seconds=60),
                ),
            )
        )
    else:
        events.append(
            sla.SlaBreached(
                id=f"b-{h}",
                subject=lead,
                data=sla.FiredData(
                    lead_id=lead,
                    handoff_id=h,
                    timer_id=f"t-{h}",
                    policy="accept",
                    stage="accept",
                    due_at=at + 3600 * s,
                    fired_at=at + 3600 * s,
                ),
            )
        )
    if roll < 0.25:
        events.append(
            routing.LeadDispositioned(
                id=f"d-{h}",
                subject=lead,
                data=routing.DispositionedData(
                    lead_id=lead,
                    handoff_id=h,
                    rep_id=f"rep-{n % 40}",
                    at=at + 900 * s,
                    outcome="sql",
                ),
            )
        )
    return events


async def produce(settings: HandoffSettings, topic: str, mqls: int) -> int:
    kafka = make_producer(settings, "bench-insight-producer")
    await kafka.start()
    producer, rng, prefix = Producer(kafka), random.Random(11), os.urandom(3).hex()
    now = datetime.now(UTC) - timedelta(days=1)
    total = 0
    try:
        batch: list[Message] = []
        for n in range(mqls):
            for event in journey(prefix, n, rng, now - timedelta(minutes=n % 20_000)):
                batch.append(Message.of(topic, event))
            if len(batch) >= 5000:
                await producer.send_all(batch)
                total, batch = total + len(batch), []
        await producer.send_all(batch)
        return total + len(batch)
    finally:
        await kafka.stop()


async def insight_pipeline(settings: HandoffSettings, topic: str, total: int, group: str) -> float:
    handler = FunnelHandler(load_config(REPO / "config" / "insight.yaml"))
    adapters = {topic: funnel_adapter}
    return await service_pipeline(
        settings, schema="insight", adapters=adapters, handler=handler, total=total, group=group
    )


def _lead_id(value: bytes) -> str:
    return str(funnel_adapter.validate_json(value).data.lead_id)


async def consumer_rates(
    settings: HandoffSettings, mqls: int, rounds: int, partitions: int
) -> None:
    engine = create_engine(settings.database_url)
    async with engine.begin() as conn:
        await conn.execute(text("CREATE SCHEMA IF NOT EXISTS bench_null"))
        await conn.execute(
            text("CREATE TABLE IF NOT EXISTS bench_null.sink (lead_id text PRIMARY KEY, n int)")
        )
    await engine.dispose()
    best_null = best_insight = float("inf")
    events = 0
    for r in range(1, rounds + 1):
        topic = f"bench.funnel.{os.urandom(3).hex()}"
        assert settings.kafka_bootstrap_servers
        await create_topic(settings.kafka_bootstrap_servers, topic, partitions)
        events = await produce(settings, topic, mqls)
        t_null = await null_pipeline(settings, topic, events, f"bench-null-{topic}", _lead_id)
        t_insight = await insight_pipeline(settings, topic, events, f"bench-insight-{topic}")
        best_null, best_insight = min(best_null, t_null), min(best_insight, t_insight)
        print(
            f"round {r}: null {events / t_null:,.0f} events/s, insight {events / t_insight:,.0f} events/s",
            flush=True,
        )
    null_rate, insight_rate = events / best_null, events / best_insight
    print(
        f"insight/null = {insight_rate / null_rate:.2f}  (insight {insight_rate:,.0f} events/s, "
        f"null {null_rate:,.0f} events/s, {events} events of {mqls} MQLs; goal >= {TARGET_RATIO:.2f})",
        flush=True,
    )
    results.record(
        "insight consumer / null pipeline", insight_rate / null_rate, "", f">= {TARGET_RATIO}"
    )


# The 1M synthetic rows: sources, campaigns, pools and reps spread by modulo, 90 days back.
FILL_ROWS = """
INSERT INTO insight.funnel (mql_id, lead_id, cycle, qualified_at, score, fit_grade, trigger_kind,
  trigger_rule, rules, source, campaign, handoff_id, pool, rep_id, team, assigned_at,
  last_assigned_at, accepted_at, rejected_at, reason_code, disposition, dispositioned_at, sla,
  escalations, escalation_level)
SELECT 'bulk-' || g, 'BL-' || g, 1, q, 60 + g % 40, 'B', 'threshold', 'score >= 60', ARRAY['page_views'],
  (ARRAY['web','hubspot','marketo','segment','webinar','ads','partner','event'])[1 + g % 8],
  'c' || (g % 30), 'bh-' || g, 'pool-' || (g % 3), 'rep-' || (g % 40), 'team-' || (g % 4),
  q + interval '1 second', q + interval '1 second',
  CASE WHEN g % 20 < 12 THEN q + make_interval(secs => 30 + g % 600) END,
  CASE WHEN g % 20 BETWEEN 12 AND 16 THEN q + interval '60 seconds' END,
  CASE WHEN g % 20 BETWEEN 12 AND 16 THEN (ARRAY['no_budget','not_decision_maker','bad_contact_info'])[1 + g % 3] END,
  CASE WHEN g % 20 < 5 THEN 'sql' END,
  CASE WHEN g % 20 < 5 THEN q + interval '1 day' END,
  CASE WHEN g % 20 < 17 THEN '{"met": {"accept": [60, 60, "2026-01-01T00:00:00+00:00"]}, "breached": []}'
       ELSE '{"met": {}, "breached": ["accept"]}' END::jsonb,
  0, 0
FROM generate_series(1, :rows) AS g, LATERAL (SELECT now() - make_interval(secs => (g::bigint * 7776000 / :rows)) AS q) t
"""

# The rollup of those rows, computed in SQL with the same counter names the handler writes.
FILL_ROLLUP = """
INSERT INTO insight.rollup (dim, day, value, counters)
SELECT :dim, day, value, jsonb_object_agg(counter, n) FROM (
SELECT (qualified_at AT TIME ZONE 'UTC')::date AS day, {value} AS value, c.counter, count(*) AS n
FROM insight.funnel f, LATERAL (VALUES
  ('mqls', true), ('assigned', true),
  ('accepted', accepted_at IS NOT NULL), ('rejected', rejected_at IS NOT NULL),
  ('reason:' || reason_code, reason_code IS NOT NULL), ('sql', disposition = 'sql'),
  ('sal_sql', disposition = 'sql' AND accepted_at IS NOT NULL),
  ('sla_met:accept', sla->'met' ? 'accept'), ('sla_breached:accept', sla->'breached' ? 'accept'),
  ('breaches', sla->'breached' ? 'accept'),
  ('accept_secs:' || CASE WHEN accepted_at - assigned_at < interval '60 seconds' THEN 2
                         WHEN accepted_at - assigned_at < interval '120 seconds' THEN 3
                         WHEN accepted_at - assigned_at < interval '300 seconds' THEN 4 ELSE 5 END,
   accepted_at IS NOT NULL)
) AS c(counter, hit)
WHERE f.mql_id LIKE 'bulk-%' AND c.hit
GROUP BY 1, 2, 3
) AS counted GROUP BY day, value
ON CONFLICT (dim, day, value)
DO UPDATE SET counters = insight.add_counters(insight.rollup.counters, excluded.counters)
"""
DIM_COLUMNS = {
    "overall": "'all'",
    "source": "source",
    "campaign": "campaign",
    "trigger": "trigger_rule",
    "fit_grade": "fit_grade",
    "pool": "pool",
    "rep": "rep_id",
    "team": "team",
}


async def fill(database_url: str, rows: int) -> float:
    engine = create_engine(database_url)
    started = time.perf_counter()
    try:
        async with engine.begin() as conn:
            await conn.execute(text(FILL_ROWS), {"rows": rows})
            for dim, column in DIM_COLUMNS.items():
                await conn.execute(text(FILL_ROLLUP.format(value=column)), {"dim": dim})
        async with engine.begin() as conn:
            await conn.execute(text("ANALYZE insight.funnel"))
            await conn.execute(text("ANALYZE insight.rollup"))
    finally:
        await engine.dispose()
    return time.perf_counter() - started


async def funnel_p99(url: str, api_key: str, requests: int) -> list[float]:
    timings = []
    async with httpx.AsyncClient(
        headers={"Authorization": f"Bearer {api_key}"}, timeout=30
    ) as client:
        for n in range(requests + 5):
            started = time.perf_counter()
            resp = await client.get(f"{url}/v1/funnel", params={"window": "30d", "by": "source"})
            elapsed = time.perf_counter() - started
            resp.raise_for_status()
            if n >= 5:  # the first few warm the pool and the caches
                timings.append(elapsed)
        body = resp.json()
    print(f"  30d by source: {body['overall']['mqls']:,} MQLs in {len(body['groups'])} groups")
    return sorted(timings)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--mqls", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--partitions", type=int, default=12)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args(argv)
    configure_logging("console", "warning")
    tune_gc()  # as every service process runs (handoff.runtime.run_service); both pipelines share it
    data_dir = Path(tempfile.mkdtemp(prefix="handoff-bench-insight-"))
    stack = DevStack.from_env(data_dir, pg_port=free_port(), broker_port=free_port())
    service: ServiceProcess | None = None
    try:
        stack.start_infrastructure()
        stack.migrate()
        stack.create_topics()
        stack.ensure_api_key()
        assert stack.database_url and stack.bootstrap
        settings = HandoffSettings(
            database_url=stack.database_url, kafka_bootstrap_servers=stack.bootstrap
        )
        asyncio.run(consumer_rates(settings, args.mqls, args.rounds, args.partitions))
        seconds = asyncio.run(fill(stack.database_url, args.rows))
        print(
            f"bulk-inserted {args.rows:,} MQL rows and their rollup in {seconds:.1f}s", flush=True
        )
        service = ServiceProcess(
            SERVICE,
            free_port(),
            {**stack.service_env(), "HANDOFF_LOG_LEVEL": "warning"},
            data_dir / "logs",
        )
        service.start()
        service.wait_ready()
        timings = asyncio.run(funnel_p99(service.url, stack.api_key, args.requests))
        print(
            f"GET /v1/funnel?window=30d&by=source over {args.rows:,} rows: "
            f"p50 {percentile(timings, 50) * 1000:.1f} ms, p99 {percentile(timings, 99) * 1000:.1f} ms "
            f"({len(timings)} requests; goal p99 < {TARGET_P99_MS:.0f} ms)",
            flush=True,
        )
        results.record(
            f"GET /v1/funnel p99 over {args.rows:,} MQL rows",
            percentile(timings, 99) * 1000,
            "ms",
            f"< {TARGET_P99_MS:g}",
        )
    finally:
        if service is not None:
            service.stop()
        stack.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
