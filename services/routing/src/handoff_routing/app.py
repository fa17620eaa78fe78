"""The routing service's FastAPI app: handoff and roster API, the consumer, the queue sweeper and
the outbox relay."""

from __future__ import annotations

from fastapi import FastAPI

from handoff.events.envelope import utcnow
from handoff.runtime import Runtime, build_app
from handoff_routing.adapters import roster_store
from handoff_routing.adapters.roster_store import RosterStore
from handoff_routing.config import load_config
from handoff_routing.entrypoints import admin, api, one_click, queue
from handoff_routing.entrypoints.consumer import CONSUMES
from handoff_routing.handlers import QueueSweeper
from handoff_routing.service import SERVICE
from handoff_routing.settings import RoutingSettings
from handoff_routing.work import Routing


def create_app(settings: RoutingSettings) -> FastAPI:
    config = load_config(settings.config_path)  # fail at start, before any port is bound

    async def setup(rt: Runtime) -> None:
        async with rt.uow() as uow:
            await roster_store.seed(uow.conn, config)
            await uow.commit()
        routing = Routing(config, RosterStore(config.default_pool), utcnow)
        sweeper = QueueSweeper(rt.uow, routing, settings.queue_sweep_seconds)
        rt.state.update(config=config, routing=routing, sweeper=sweeper)
        rt.spawn("queue-sweeper", sweeper.run)

    return build_app(
        SERVICE,
        settings,
        routers=[api.router, admin.router, queue.router, one_click.router],
        consumes=CONSUMES,
        setup=setup,
        description="Assigns each MQL to a rep at once; records if the rep accepts it, or why not.",
    )
