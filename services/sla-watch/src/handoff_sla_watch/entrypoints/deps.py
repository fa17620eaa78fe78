"""What sla-watch's routes and consumer need, built once at start (app.wire) and reached by
every route through the one typed dependency `Deps`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncEngine

from handoff.db import UnitOfWorkFactory
from handoff.runtime import deps_getter
from handoff_sla_watch.domain.model import Policy
from handoff_sla_watch.entrypoints.firer import Alarm
from handoff_sla_watch.settings import SlaSettings


@dataclass(frozen=True)
class SlaDeps:
    settings: SlaSettings
    engine: AsyncEngine  # the API's reads, outside any unit of work
    uow: UnitOfWorkFactory
    policies: tuple[Policy, ...]
    alarm: Alarm  # rung by the consumer after a commit that arms a timer; the firer naps on it
    now: Callable[[], datetime]  # the clock: how overdue a breach is


Deps = Annotated[SlaDeps, Depends(deps_getter(SlaDeps))]
