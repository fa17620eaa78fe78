"""/healthz, /readyz and /metrics, served by every service without authentication."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess

ReadinessCheck = Callable[[], Awaitable[bool]]

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="200 while the process runs")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="200 when the database, broker and consumer are all up")
async def readyz(request: Request) -> JSONResponse:
    checks: dict[str, ReadinessCheck] = getattr(request.app.state, "readiness", {})
    results = {name: await check() for name, check in checks.items()}
    down = sorted(name for name, ok in results.items() if not ok)
    body: dict[str, object] = {"status": "ready" if not down else "not ready", "checks": results}
    if down:
        body["down"] = down
        return JSONResponse(body, status_code=503, headers={"Retry-After": "5"})
    return JSONResponse(body)


@router.get("/metrics", summary="Prometheus text exposition")
async def metrics() -> Response:
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        # Worker processes sharing a port (run_service with workers): every worker's values,
        # summed, whichever worker answers the scrape.
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
