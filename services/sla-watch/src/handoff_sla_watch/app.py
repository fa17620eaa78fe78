"""The sla-watch FastAPI app: timer API, routing consumer, timer firer and outbox relay."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial

from fastapi import FastAPI

from handoff.db import asyncpg_dsn
from handoff.messaging.retention import Retention
from handoff.runtime import Runtime, build_app
from handoff_sla_watch.adapters.tables import ENDED
from handoff_sla_watch.config import load_policies
from handoff_sla_watch.entrypoints import api
from handoff_sla_watch.entrypoints.consumer import CONSUMES
from handoff_sla_watch.entrypoints.deps import SlaDeps
from handoff_sla_watch.entrypoints.firer import Alarm, Firer
from handoff_sla_watch.service_layer.firing import Firing
from handoff_sla_watch.settings import SERVICE, SlaSettings


def create_app(settings: SlaSettings) -> FastAPI:
    policies = load_policies(settings.policies_path)  # fail at start, before any port is bound

    async def wire(rt: Runtime) -> SlaDeps:
        """Build the dependencies once; start the firer beside the consumer; prune ended timers."""
        deps = SlaDeps(
            settings=settings,
            engine=rt.engine,
            uow=rt.uow,
            policies=policies,
            alarm=Alarm(),
            now=partial(datetime.now, UTC),
        )
        rt.retentions.append(
            Retention("sla", "timers", "stopped_at", settings.timer_retention, ENDED)
        )
        rt.spawn(
            "sla-firer",
            Firer(
                asyncpg_dsn(settings.database_url),
                Firing(policies),
                deps.alarm,
                settings.max_sleep_seconds,
                settings.fire_batch,
                settings.fire_workers,
            ).run,
        )
        return deps

    return build_app(
        SERVICE,
        settings,
        routers=[api.router],
        wire=wire,
        consumes=CONSUMES,
        description="Watches the sales SLA of every handoff: timers, breaches and met agreements.",
    )
