"""The notify FastAPI app: subscription and delivery API, event consumer, delivery worker."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import httpx
from fastapi import FastAPI

from handoff.db import asyncpg_dsn
from handoff.runtime import Runtime, build_app
from handoff_notify.adapters import subscriptions_repo
from handoff_notify.adapters.guard import guarded_client, system_resolver
from handoff_notify.adapters.senders import Senders, Smtp
from handoff_notify.config import NotifyConfig, load_config
from handoff_notify.domain.attempts import Policies
from handoff_notify.entrypoints import api
from handoff_notify.entrypoints.consumer import consumes
from handoff_notify.entrypoints.deps import NotifyDeps
from handoff_notify.entrypoints.worker import Bell, Worker, WorkerLimits, wall_clock
from handoff_notify.service_layer.notices import Notices
from handoff_notify.settings import SERVICE, NotifySettings


def _senders(settings: NotifySettings, config: NotifyConfig, client: httpx.AsyncClient) -> Senders:
    password = settings.smtp_password.get_secret_value() if settings.smtp_password else None
    smtp = Smtp(
        settings.smtp_host,
        settings.smtp_port,
        settings.smtp_sender,
        settings.smtp_starttls,
        settings.smtp_username,
        password,
    )
    return Senders(client, smtp, config.timeout_seconds, config.delivery.response_body_limit)


def wiring(
    settings: NotifySettings, config: NotifyConfig
) -> Callable[[Runtime], Awaitable[NotifyDeps]]:
    async def wire(rt: Runtime) -> NotifyDeps:
        """The service's dependencies, once: the file's subscriptions synced, the worker running."""
        async with rt.uow() as uow:
            await subscriptions_repo.sync_config(uow.conn, config.subscriptions_in_config())
            await uow.commit()
        client = guarded_client(
            config.allowed_networks, config.timeout_seconds, max_connections=settings.max_in_flight
        )
        bell = Bell()
        worker = Worker(
            asyncpg_dsn(settings.database_url),
            _senders(settings, config, client),
            Policies(config.retry, config.breaker),
            WorkerLimits(
                max_in_flight=settings.max_in_flight,
                per_endpoint=config.delivery.concurrency_per_endpoint,
                lease_seconds=settings.lease_seconds,
                max_sleep_seconds=settings.max_sleep_seconds,
            ),
            bell,
            clock=wall_clock,
        )
        rt.spawn("notify-worker", worker.run)

        async def close_client_at_shutdown() -> None:
            try:
                await asyncio.Event().wait()
            finally:
                await client.aclose()

        rt.spawn("notify-client", close_client_at_shutdown)
        return NotifyDeps(
            settings=settings,
            engine=rt.engine,
            uow=rt.uow,
            producer=rt.producer,
            config=config,
            notices=Notices.from_settings(config, settings),
            bell=bell,
            worker=worker,
            resolve=system_resolver,
            clock=wall_clock,
        )

    return wire


def create_app(settings: NotifySettings) -> FastAPI:
    config = load_config(settings.config_path)  # fail at start, before any port is bound
    wire = wiring(settings, config)

    return build_app(
        SERVICE,
        settings,
        routers=[api.router],
        consumes=consumes(settings.consume_insight),
        wire=wire,
        description="Passes handoff's events on: signed webhooks, Slack and email notices.",
    )
