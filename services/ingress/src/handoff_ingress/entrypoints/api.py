"""POST /v1/signals and POST /v1/webhooks/{source}: read the body, parse, call the service layer."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from handoff.http.auth import require_scope
from handoff.http.limits import require_json
from handoff.http.problem import Problem
from handoff_ingress.entrypoints.deps import Deps
from handoff_ingress.service_layer import webhooks
from handoff_ingress.service_layer.signals import accept_signals, parse_signals
from handoff_ingress.service_layer.webhooks import WebhookRequest

__all__ = ["parse_signals", "router"]  # parse_signals: its tests import it from here

router = APIRouter(prefix="/v1", tags=["ingress"])


class Accepted(BaseModel):
    accepted: int


class WebhookAccepted(BaseModel):
    accepted: int
    duplicate: bool
    unmapped: int


_SIGNALS_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "oneOf": [
                        {"$ref": "#/components/schemas/SignalIn"},
                        {"$ref": "#/components/schemas/SignalBatch"},
                    ]
                }
            }
        },
    }
}


@router.post(
    "/signals",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Accepted,
    openapi_extra=_SIGNALS_BODY,
    dependencies=[Depends(require_scope("signals:write")), Depends(require_json)],
    summary="Send one signal or a batch of up to 1000; 202 once the broker has them",
)
async def post_signals(request: Request, deps: Deps) -> Accepted:
    incoming = parse_signals(await request.body())
    return Accepted(accepted=await accept_signals(incoming, deps.limits, deps.publish))


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body (signatures cover its exact bytes), refused past `limit`, chunked or not."""
    too_large = Problem(413, f"The request body is larger than {limit} bytes.")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


_WEBHOOK_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "description": "The provider's own body: Standard Webhooks (handoff signals), "
                    "HubSpot, Segment or the Marketo template; see docs/ingress.md",
                    "oneOf": [{"type": "object"}, {"type": "array"}],
                }
            }
        },
    }
}


@router.post(
    "/webhooks/{source}",
    status_code=202,
    response_model=WebhookAccepted,
    openapi_extra=_WEBHOOK_BODY,
    tags=["webhooks"],
    responses={
        200: {"model": WebhookAccepted, "description": "a delivery seen before: no effect"},
        401: {"description": "not verified (the same answer whatever failed)"},
        404: {"description": "no such source, or no secret configured for it"},
        413: {"description": "body too large"},
        422: {"description": "not the provider's format; the field is named"},
        429: {"description": "rate limited; see Retry-After"},
        503: {"description": "broker or database down; nothing stored; see Retry-After"},
    },
    summary="A provider's webhook: verified, mapped to signals, deduplicated; 202 once stored",
)
async def receive_webhook(source: str, request: Request, deps: Deps) -> JSONResponse:
    hooks = deps.webhooks
    src = hooks.source(source)
    body = await read_body(request, src.max_body_bytes)
    answer = await webhooks.receive(
        hooks,
        src,
        WebhookRequest(
            method=request.method,
            url=str(request.url),
            headers=request.headers,
            body=body,
            client=request.client.host if request.client is not None else "unknown",
        ),
    )
    return JSONResponse(answer.body(), status_code=answer.status)
