"""The sla-watch FastAPI app: timer API, routing consumer, timer firer and outbox relay."""

from __future__ import annotations

from fastapi import FastAPI

from handoff.db import asyncpg_dsn
from handoff.messaging.retention import Retention
from handoff.runtime import Runtime, build_app
from handoff_sla_watch.adapters.tables import ENDED
from handoff_sla_watch.alarm import Alarm
from handoff_sla_watch.config import load_policies
from handoff_sla_watch.entrypoints import api
from handoff_sla_watch.entrypoints.consumer import CONSUMES
from handoff_sla_watch.entrypoints.firer import Firer
from handoff_sla_watch.handlers import Firing
from handoff_sla_watch.service import SERVICE
from handoff_sla_watch.settings import SlaSettings


def create_app(settings: SlaSettings) -> FastAPI:
    policies = load_policies(settings.policies_path)  # fail at start, before any port is bound

    async def setup(rt: Runtime) -> None:
        alarm = Alarm()
        rt.state["policies"] = policies
        rt.state["alarm"] = alarm
        rt.retentions.append(
            Retention("sla", "timers", "stopped_at", settings.timer_retention, ENDED)
        )
        rt.spawn(
            "sla-firer",
            Firer(
                asyncpg_dsn(settings.database_url),
                Firing(policies),
                alarm,
                settings.max_sleep_seconds,
                settings.fire_batch,
                settings.fire_workers,
            ).run,
        )

    return build_app(
        SERVICE,
        settings,
        routers=[api.router],
        consumes=CONSUMES,
        setup=setup,
        description="Watches the sales SLA of every handoff: timers, breaches and met agreements.",
    )
