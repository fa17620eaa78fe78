"""The scoring service's FastAPI app: the signal consumer, the score read API, erasure and the
outbox relay."""

from __future__ import annotations

from fastapi import FastAPI

from handoff.runtime import Runtime, build_app
from handoff_scoring.config import load_model
from handoff_scoring.entrypoints import api, privacy
from handoff_scoring.entrypoints.consumer import CONSUMES
from handoff_scoring.entrypoints.deps import ScoringDeps
from handoff_scoring.settings import SERVICE, ScoringSettings


def create_app(settings: ScoringSettings) -> FastAPI:
    model = load_model(settings.model_path)  # fail at start, before any port is bound

    async def wire(rt: Runtime) -> ScoringDeps:
        return ScoringDeps(settings, rt.engine, rt.uow, model)

    return build_app(
        SERVICE,
        settings,
        routers=[api.router, privacy.router],
        wire=wire,
        consumes=CONSUMES,
        description="Scores behaviour signals and declares MQLs, with the reason.",
    )
