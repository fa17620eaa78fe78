"""The routing service's FastAPI app: handoff and roster API, the consumer, the queue sweeper and
the outbox relay."""

from __future__ import annotations

from fastapi import FastAPI

from handoff.events.envelope import utcnow
from handoff.runtime import Runtime, build_app
from handoff_routing.adapters import roster
from handoff_routing.adapters.roster import RosterStore
from handoff_routing.config import load_config
from handoff_routing.entrypoints import admin, api, one_click, queue
from handoff_routing.entrypoints.consumer import CONSUMES
from handoff_routing.entrypoints.deps import RoutingDeps
from handoff_routing.entrypoints.queue_sweeper import QueueSweeper
from handoff_routing.service_layer.handoff_batch import Routing
from handoff_routing.settings import SERVICE, RoutingSettings


def create_app(settings: RoutingSettings) -> FastAPI:
    config = load_config(settings.config_path)  # fail at start, before any port is bound

    async def wire(rt: Runtime) -> RoutingDeps:
        async with rt.uow() as uow:
            await roster.seed(uow.conn, config)
            await uow.commit()
        routing = Routing(config, RosterStore(config.default_pool), utcnow)
        sweeper = QueueSweeper(rt.uow, routing, settings.queue_sweep_seconds)
        rt.spawn("queue-sweeper", sweeper.run)
        return RoutingDeps(settings, rt.engine, rt.uow, rt.producer, routing, sweeper)

    return build_app(
        SERVICE,
        settings,
        routers=[api.router, admin.router, queue.router, one_click.router],
        consumes=CONSUMES,
        wire=wire,
        description="Assigns each MQL to a rep at once; records if the rep accepts it, or why not.",
    )
