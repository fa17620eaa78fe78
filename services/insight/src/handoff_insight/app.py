"""The insight FastAPI app: funnel API, dashboard page, the three-topic consumer and the sweep."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from handoff.runtime import Runtime, build_app
from handoff_insight.config import InsightConfig, load_config, load_reason_labels
from handoff_insight.domain.kpis import Labels
from handoff_insight.entrypoints import alerts, api, dashboard, feedback
from handoff_insight.entrypoints.consumer import CONSUMES
from handoff_insight.entrypoints.deps import InsightDeps
from handoff_insight.service_layer.sweep import run_sweeps
from handoff_insight.settings import SERVICE, InsightSettings

STATIC = Path(__file__).parent / "static"


def wall_clock() -> datetime:
    return datetime.now(UTC)


def wiring(
    settings: InsightSettings, config: InsightConfig, labels: Labels
) -> Callable[[Runtime], Awaitable[InsightDeps]]:
    async def wire(rt: Runtime) -> InsightDeps:
        """The service's dependencies, once; the sweep runs beside the consumer."""
        deps = InsightDeps(
            settings=settings,
            engine=rt.engine,
            uow=rt.uow,
            producer=rt.producer,
            config=config,
            labels=labels,
            clock=wall_clock,
        )
        rt.spawn("insight-sweep", lambda: run_sweeps(deps.uow, deps.config))
        return deps

    return wire


def create_app(settings: InsightSettings) -> FastAPI:
    # Fail at start, before any port is bound.
    config = load_config(settings.config_path)
    labels = load_reason_labels(settings.routing_path)
    wire = wiring(settings, config, labels)

    app = build_app(
        SERVICE,
        settings,
        routers=[api.router, feedback.router, alerts.router, dashboard.router],
        consumes=CONSUMES,
        wire=wire,
        description="The MQL -> SAL -> SQL funnel: KPIs, band alerts, feedback and the dashboard.",
    )
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app
