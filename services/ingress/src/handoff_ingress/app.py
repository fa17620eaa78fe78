"""The ingress service's FastAPI app: the signal and webhook routes, and the delivery desk behind them.

No consumer and no lead state: every instance answers any request, so several can run behind
a load balancer (the delivery table in PostgreSQL is what they share).
"""

from __future__ import annotations

from datetime import timedelta

import structlog
from fastapi import FastAPI
from starlette.types import Receive, Scope, Send

from handoff.messaging.retention import Retention
from handoff.runtime import Runtime, build_app, worker_app
from handoff_ingress.adapters.publisher import SignalPublisher
from handoff_ingress.config import IngressConfig, load_ingress
from handoff_ingress.entrypoints import api
from handoff_ingress.entrypoints.deps import IngressDeps
from handoff_ingress.entrypoints.lean_webhooks import LeanWebhooks
from handoff_ingress.service_layer.deliveries import DeliveryDesk
from handoff_ingress.service_layer.signals import Limits
from handoff_ingress.service_layer.webhooks import Webhooks
from handoff_ingress.settings import SERVICE, IngressSettings

log = structlog.get_logger("handoff_ingress.app")


async def wire(rt: Runtime, settings: IngressSettings, config: IngressConfig) -> IngressDeps:
    """The service's dependencies, once; the delivery desk runs beside the request handlers."""
    publish = SignalPublisher(rt.producer, settings.publish_timeout_seconds)
    limits = Limits(settings.signal_max_future_seconds, settings.kafka_max_request_bytes)
    keep = timedelta(days=config.dedupe_retention_days)
    desk = DeliveryDesk(rt.engine, publish, retention_seconds=keep.total_seconds())
    rt.spawn("webhook-deliveries", desk.run)
    # Delivery ids are remembered for dedupe_retention_days (ingress.yaml), then pruned.
    rt.retentions.append(Retention(SERVICE.schema, "webhook_deliveries", "received_at", keep))
    for name, s in config.sources.items():
        log.info(
            "ingress.source.ready" if s.enabled else "ingress.source.disabled",
            source=name,
            provider=s.provider,
            secrets=len(s.secrets.secrets),
        )
    return IngressDeps(settings, publish, limits, Webhooks.build(config, desk, limits))


class IngressApp(FastAPI):
    """FastAPI with the lean webhook route asked first, in front of FastAPI's whole stack."""

    lean: LeanWebhooks | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.lean is None or not await self.lean.serve(scope, receive, send):
            await super().__call__(scope, receive, send)


def create_app(settings: IngressSettings, *, lean_webhooks: bool = True) -> FastAPI:
    """The app; `lean_webhooks=False` leaves every webhook to FastAPI's route (the tests compare
    both doors' answers)."""
    config = load_ingress(settings.ingress_path)  # fail at start, before any port is bound

    async def wired(rt: Runtime) -> IngressDeps:
        return await wire(rt, settings, config)

    app = build_app(
        SERVICE,
        settings,
        routers=[api.router],
        wire=wired,
        description="Takes signals in: POST /v1/signals and providers' webhooks, verified, "
        "deduplicated and published to handoff.signals.v1.",
        app_class=IngressApp,
    )
    if lean_webhooks and isinstance(app, IngressApp):
        # A common webhook skips FastAPI's stack (entrypoints/lean_webhooks.py).
        app.lean = LeanWebhooks(
            app.state, settings.max_body_bytes, settings.body_read_timeout_seconds
        )
    return app


def create_worker_app() -> FastAPI:
    """One worker process's app (HANDOFF_INGRESS_WORKERS > 1), built from the environment."""
    return worker_app(SERVICE, IngressSettings, create_app)
