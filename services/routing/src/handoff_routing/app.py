"""The routing service's FastAPI app: handoff API, MQL consumer and outbox relay."""

from __future__ import annotations

from fastapi import FastAPI

from handoff.runtime import Runtime, build_app
from handoff_routing.config import load_config
from handoff_routing.entrypoints import api
from handoff_routing.entrypoints.consumer import CONSUMES
from handoff_routing.service import SERVICE
from handoff_routing.settings import RoutingSettings


def create_app(settings: RoutingSettings) -> FastAPI:
    config = load_config(settings.config_path)  # fail at start, before any port is bound

    async def setup(rt: Runtime) -> None:
        rt.state["config"] = config

    return build_app(
        SERVICE,
        settings,
        routers=[api.router],
        consumes=CONSUMES,
        setup=setup,
        description="Assigns each MQL to a rep at once; records if the rep accepts it, or why not.",
    )
