"""The periodic sweep: re-judge every group as the window slides, and refresh the /metrics gauges."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime

import structlog

from handoff.db import UnitOfWorkFactory
from handoff_insight.adapters import alert_states, metrics, rollups
from handoff_insight.config import InsightConfig
from handoff_insight.domain.funnel import STAGES
from handoff_insight.domain.kpis import kpis
from handoff_insight.service_layer.judge import judge_groups, window_days

log = structlog.get_logger("handoff.insight")


async def sweep_once(uow_factory: UnitOfWorkFactory, config: InsightConfig) -> None:
    async with uow_factory() as uow:
        await judge_groups(uow.conn, config, None)
        await uow.commit()
    await refresh_gauges(uow_factory, config)


async def refresh_gauges(uow_factory: UnitOfWorkFactory, config: InsightConfig) -> None:
    first, last = window_days(config, datetime.now(UTC))
    async with uow_factory() as uow:
        conn = uow.conn
        per_dim = {}
        for dim in metrics.DIMENSIONS:
            top = await rollups.top_values(conn, dim, first, config.metrics_max_groups)
            per_dim[dim] = await rollups.sums(conn, dim, first, last, top) if top else {}
        open_alerts = await alert_states.open_alerts(conn)
    for gauge in metrics.ALL:
        gauge.clear()
    for dim, groups in per_dim.items():
        for value, counters in groups.items():
            k = kpis(counters)
            metrics.MQLS.labels(dim, value).set(k.mqls)
            metrics.DECIDED.labels(dim, value).set(k.decided)
            if k.acceptance_rate is not None:
                metrics.ACCEPTANCE.labels(dim, value).set(k.acceptance_rate)
            if k.mql_to_sql is not None:
                metrics.SQL_RATE.labels(dim, value).set(k.mql_to_sql)
            for stage in STAGES:
                compliance = k.sla_of(stage).compliance
                if compliance is not None:
                    metrics.SLA_COMPLIANCE.labels(dim, value, stage).set(compliance)
    per_band = Counter(a.band for a in open_alerts)
    for band in config.bands:
        metrics.OPEN_ALERTS.labels(band.name).set(per_band.get(band.name, 0))


async def run_sweeps(uow_factory: UnitOfWorkFactory, config: InsightConfig) -> None:
    """Forever: sweep, then sleep `evaluate_every`; a failed sweep is logged and retried."""
    while True:
        await sweep_once(uow_factory, config)
        await asyncio.sleep(config.evaluate_every)
