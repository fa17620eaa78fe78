"""notify's dependencies, built once by app.wire at start and reached by every route as `Deps`."""

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
from handoff_notify.adapters.guard import Resolver
from handoff_notify.config import NotifyConfig
from handoff_notify.entrypoints.worker import Bell, Worker
from handoff_notify.service_layer.notices import Notices
from handoff_notify.settings import NotifySettings


@dataclass(frozen=True)
class NotifyDeps:
    settings: NotifySettings
    engine: AsyncEngine  # read-only queries of the API
    uow: UnitOfWorkFactory
    producer: Producer
    config: NotifyConfig  # config/notify.yaml
    notices: Notices  # renders the Slack and email notices
    bell: Bell  # rung when deliveries are due now: the worker looks at once
    worker: Worker
    resolve: Resolver  # DNS, for the API's check of a subscription's address
    clock: Callable[[], datetime]


Deps = Annotated[NotifyDeps, Depends(deps_getter(NotifyDeps))]
