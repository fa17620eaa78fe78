"""What routing's routes and loops depend on, built once in `app.wire` and reached through one
typed FastAPI dependency, `Deps`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncEngine

from handoff.db import UnitOfWorkFactory
from handoff.messaging.producer import Producer
from handoff.runtime import deps_getter
from handoff_routing.adapters.roster import RosterStore
from handoff_routing.config import RoutingConfig
from handoff_routing.entrypoints.queue_sweeper import QueueSweeper
from handoff_routing.service_layer.handoff_batch import Routing
from handoff_routing.settings import RoutingSettings


@dataclass(frozen=True)
class RoutingDeps:
    settings: RoutingSettings
    engine: AsyncEngine  # reads outside a unit of work
    uow: UnitOfWorkFactory
    producer: Producer
    routing: Routing  # the rules and reason codes, the roster cache, the clock
    sweeper: QueueSweeper  # woken when a rep may have capacity again

    @property
    def config(self) -> RoutingConfig:
        return self.routing.config

    @property
    def rosters(self) -> RosterStore:
        return self.routing.rosters

    @property
    def clock(self) -> Callable[[], datetime]:
        return self.routing.clock


Deps = Annotated[RoutingDeps, Depends(deps_getter(RoutingDeps))]
