"""The scoring service's FastAPI app: ingress API, signal consumer and outbox relay."""

from __future__ import annotations

from datetime import timedelta

from fastapi import FastAPI

from handoff.messaging.retention import Retention
from handoff.runtime import Runtime, build_app
from handoff_scoring.config import load_model
from handoff_scoring.entrypoints import api, webhooks
from handoff_scoring.entrypoints.consumer import CONSUMES
from handoff_scoring.ingress.config import load_ingress
from handoff_scoring.service import SERVICE
from handoff_scoring.settings import ScoringSettings


def create_app(settings: ScoringSettings) -> FastAPI:
    model = load_model(settings.model_path)  # fail at start, before any port is bound
    ingress = load_ingress(settings.ingress_path)

    async def setup(rt: Runtime) -> None:
        rt.state["model"] = model
        rt.state["publish_timeout"] = settings.publish_timeout_seconds
        await webhooks.setup(rt, ingress)
        # Delivery ids are remembered for dedupe_retention_days (ingress.yaml), then pruned.
        keep = timedelta(days=ingress.dedupe_retention_days)
        rt.retentions.append(Retention("scoring", "webhook_deliveries", "received_at", keep))

    return build_app(
        SERVICE,
        settings,
        routers=[api.router, webhooks.router],
        consumes=CONSUMES,
        setup=setup,
        description="Scores behaviour signals and declares MQLs, with the reason.",
    )
