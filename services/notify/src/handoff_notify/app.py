"""The notify FastAPI app: subscription and delivery API, event consumer, delivery worker."""

from __future__ import annotations

import asyncio

from fastapi import FastAPI

from handoff.db import asyncpg_dsn
from handoff.runtime import Runtime, build_app
from handoff_notify.adapters import subscriptions_repo
from handoff_notify.adapters.guard import guarded_client, system_resolver
from handoff_notify.adapters.senders import Senders, Smtp
from handoff_notify.config import load_config
from handoff_notify.domain.attempts import Policies
from handoff_notify.entrypoints import api
from handoff_notify.entrypoints.consumer import consumes
from handoff_notify.entrypoints.worker import Bell, Worker, WorkerLimits
from handoff_notify.service_layer.notices import Notices
from handoff_notify.settings import SERVICE, NotifySettings


def create_app(settings: NotifySettings) -> FastAPI:
    config = load_config(settings.config_path)  # fail at start, before any port is bound

    async def setup(rt: Runtime) -> None:
        bell = Bell()
        rt.state.update(
            config=config,
            bell=bell,
            resolve=system_resolver,
            render=Notices.from_settings(config, settings).render,
            new_lead_grace_seconds=settings.new_lead_grace_seconds,
        )
        async with rt.uow() as uow:
            await subscriptions_repo.sync_config(uow.conn, config.subscriptions_in_config())
            await uow.commit()
        client = guarded_client(
            config.allowed_networks, config.timeout_seconds, max_connections=settings.max_in_flight
        )
        password = settings.smtp_password.get_secret_value() if settings.smtp_password else None
        smtp = Smtp(
            settings.smtp_host,
            settings.smtp_port,
            settings.smtp_sender,
            settings.smtp_starttls,
            settings.smtp_username,
            password,
        )
        senders = Senders(client, smtp, config.timeout_seconds, config.delivery.response_body_limit)
        worker = Worker(
            asyncpg_dsn(settings.database_url),
            senders,
            Policies(config.retry, config.breaker),
            WorkerLimits(
                max_in_flight=settings.max_in_flight,
                per_endpoint=config.delivery.concurrency_per_endpoint,
                lease_seconds=settings.lease_seconds,
                max_sleep_seconds=settings.max_sleep_seconds,
            ),
            bell,
        )
        rt.state["worker"] = worker
        rt.spawn("notify-worker", worker.run)

        async def close_client_at_shutdown() -> None:
            try:
                await asyncio.Event().wait()
            finally:
                await client.aclose()

        rt.spawn("notify-client", close_client_at_shutdown)

    return build_app(
        SERVICE,
        settings,
        routers=[api.router],
        consumes=consumes(settings.consume_insight),
        setup=setup,
        description="Passes handoff's events on: signed webhooks, Slack and email notices.",
    )
