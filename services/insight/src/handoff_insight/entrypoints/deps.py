"""insight's dependencies, built once by app.wire at start and reached by every route as `Deps`."""

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
from handoff_insight.config import InsightConfig
from handoff_insight.domain.kpis import Labels
from handoff_insight.settings import InsightSettings


@dataclass(frozen=True)
class InsightDeps:
    settings: InsightSettings
    engine: AsyncEngine  # read-only queries: the API only reads
    uow: UnitOfWorkFactory
    producer: Producer
    config: InsightConfig  # config/insight.yaml
    labels: Labels  # the reason codes' English and Japanese labels, from config/routing.yaml
    clock: Callable[[], datetime]  # "now" for the rolling windows


Deps = Annotated[InsightDeps, Depends(deps_getter(InsightDeps))]
