"""What scoring's routes and consumer need, built once when the service starts, and the one
typed FastAPI dependency that reaches it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncEngine

from handoff.db import UnitOfWorkFactory
from handoff.events.envelope import utcnow
from handoff.runtime import deps_getter
from handoff_scoring.domain.model import ScoringModel
from handoff_scoring.settings import ScoringSettings


@dataclass(frozen=True)
class ScoringDeps:
    """Scoring's dependencies. It has no producer: what it emits goes through the outbox,
    whose relay the runtime owns."""

    settings: ScoringSettings
    engine: AsyncEngine  # reads outside a unit of work (the score API)
    uow: UnitOfWorkFactory
    model: ScoringModel
    clock: Callable[[], datetime] = utcnow


Deps = Annotated[ScoringDeps, Depends(deps_getter(ScoringDeps))]
