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

    async def setup(rt: Runtime) -> None:
        deps = ScoringDeps(settings, rt.engine, rt.uow, model)
        app.state.deps = deps
        rt.state["deps"] = deps  # the consumer's handler is built from it

    app = build_app(
        SERVICE,
        settings,
        routers=[api.router, privacy.router],
        consumes=CONSUMES,
        setup=setup,
        description="Scores behaviour signals and declares MQLs, with the reason.",
    )
    return app
