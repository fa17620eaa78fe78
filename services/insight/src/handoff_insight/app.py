"""The insight FastAPI app: funnel API, dashboard page, the three-topic consumer and the sweep."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from handoff.runtime import Runtime, build_app
from handoff_insight.config import load_config, load_reason_labels
from handoff_insight.entrypoints import api, dashboard
from handoff_insight.entrypoints.consumer import CONSUMES
from handoff_insight.service_layer.sweep import run_sweeps
from handoff_insight.settings import SERVICE, InsightSettings

STATIC = Path(__file__).parent / "static"


def create_app(settings: InsightSettings) -> FastAPI:
    # Fail at start, before any port is bound.
    config = load_config(settings.config_path)
    labels = load_reason_labels(settings.routing_path)

    async def setup(rt: Runtime) -> None:
        rt.state["config"] = config
        rt.state["labels"] = labels
        rt.spawn("insight-sweep", lambda: run_sweeps(rt.uow, config))

    app = build_app(
        SERVICE,
        settings,
        routers=[api.router, dashboard.router],
        consumes=CONSUMES,
        setup=setup,
        description="The MQL -> SAL -> SQL funnel: KPIs, band alerts, feedback and the dashboard.",
    )
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app
