"""POST /v1/webhooks/{source}: verify the provider's way, map to signals, dedupe, publish.

The route is thin: verification and mapping are the plain functions of handoff_scoring.ingress,
the signal path (CloudEvent records, publish and wait for the acknowledgement) is the one POST /v1/signals
uses, and DeliveryDesk settles (source, delivery id) once.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from prometheus_client import Counter
from pydantic import BaseModel, ValidationError

from handoff.events.envelope import fact_id
from handoff.http.body import invalid
from handoff.http.limits import retry_after
from handoff.http.problem import Problem
from handoff.runtime import Runtime
from handoff_scoring.entrypoints import api
from handoff_scoring.ingress import hubspot, marketo, segment, standard
from handoff_scoring.ingress.config import IngressConfig, Source
from handoff_scoring.ingress.deliveries import DeliveryDesk
from handoff_scoring.ingress.events import BadPayload, ProviderEvent
from handoff_scoring.ingress.mapping import map_events
from handoff_scoring.ingress.ratelimit import AddressLimiter, TokenBucket
from handoff_scoring.ingress.verification import Unverified

router = APIRouter(prefix="/v1", tags=["webhooks"])
log = structlog.get_logger("handoff_scoring.webhooks")

WEBHOOKS = Counter(
    "handoff_webhook_requests_total", "Webhook requests by source and answer", ["source", "outcome"]
)
UNMAPPED = Counter(
    "handoff_webhook_unmapped_events_total", "Provider events no mapping rule matched", ["source"]
)
FUTURE_DROPPED = Counter(
    "handoff_webhook_future_events_dropped_total",
    "Webhook signals dated too far ahead of the clock: answered 202, not published",
    ["source"],
)
MAX_DELIVERY_ID = 200  # longer provider ids are stored as their SHA-256: index rows stay small


@dataclass
class Ingress:
    config: IngressConfig
    desk: DeliveryDesk
    buckets: dict[str, TokenBucket]  # per source: verified deliveries only
    unverified: AddressLimiter  # per client address: failed verifications only
    max_future_seconds: float = 300.0
    max_record_bytes: int = 1_048_576


async def setup(rt: Runtime, config: IngressConfig) -> None:
    """Called from the app's setup: the delivery desk runs beside the consumer and the relay."""

    async def publish(messages: Any) -> None:
        await api.publish(rt, messages)

    desk = DeliveryDesk(rt.engine, publish, retention_seconds=config.dedupe_retention_days * 86400)
    buckets = {n: TokenBucket(s.per_second, s.burst) for n, s in config.sources.items()}
    failures = config.unverified_rate_limit
    unverified_limiter = AddressLimiter(
        failures.per_second, failures.burst, config.unverified_max_addresses
    )
    rt.state["ingress"] = Ingress(
        config,
        desk,
        buckets,
        unverified_limiter,
        api.max_future_seconds(rt.settings),
        rt.settings.kafka_max_request_bytes,
    )
    rt.spawn("webhook-deliveries", desk.run)
    for name, s in config.sources.items():
        log.info(
            "ingress.source.ready" if s.enabled else "ingress.source.disabled",
            source=name,
            provider=s.provider,
            secrets=len(s.secrets.secrets),
        )


class WebhookAccepted(BaseModel):
    accepted: int
    duplicate: bool
    unmapped: int


def unverified() -> Problem:
    # One body for every failure (signature, secret, timestamp, missing header): no oracle.
    return Problem(401, "The webhook could not be verified.")


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


def _verify(src: Source, request: Request, body: bytes, tolerance: float) -> str | None:
    """Raise Unverified unless genuine; the Standard Webhooks id when the provider gives one."""
    now = time.time()
    keys = src.secrets.active(datetime.now(UTC))
    headers = request.headers
    if src.provider == "standard":
        return standard.verify(keys, headers, body, now, tolerance)
    if src.provider == "hubspot":
        hubspot.verify(
            keys, request.method, src.public_url or str(request.url), headers, body, now, tolerance
        )
    elif src.provider == "segment":
        if keys or not src.allow_unsigned:
            segment.verify(keys, headers, body)
    else:
        marketo.verify(keys, headers, src.token_header)
    return None


def _provider_events(src: Source, body: bytes) -> list[ProviderEvent]:
    now = datetime.now(UTC)
    if src.provider == "hubspot":
        return hubspot.read(body, lead_prefix=src.lead_id_prefix, trait_names=src.traits, now=now)
    if src.provider == "segment":
        return segment.read(body, trait_names=src.traits, now=now)
    return marketo.read(
        body, lead_prefix=src.lead_id_prefix, trait_names=src.traits, zone=src.zone, now=now
    )


def _standard_signals(
    src: Source, body: bytes, delivery: str, max_future: float, max_record: int
) -> tuple[dict[str, list[Any]], int]:
    """The delivery's signal records, and how many were dropped for being dated in the future."""
    incoming = api.parse_signals(body)
    future = set(api.future_dated(incoming, max_future))
    events = []
    for n, s in enumerate(incoming):
        if n in future:
            continue
        try:
            events.append(
                api.to_message(s, ce_source=src.ce_source, event_id=fact_id(src.ce_source, s.id))
            )
        except ValueError as missing:
            field = f"signals.{n}.{missing}" if len(incoming) > 1 else str(missing)
            raise Problem(
                422,
                f"The signal is not valid: {field} is missing.",
                errors=[{"field": field, "message": f"required when type is {s.type!r}"}],
            ) from None
    kept = [s for n, s in enumerate(incoming) if n not in future]
    api.check_record_sizes(kept, events, max_record)
    return {delivery: events}, len(future)


def _mapped_signals(
    src: Source, body: bytes, max_future: float, max_record: int
) -> tuple[dict[str, list[Any]], int, int]:
    """Signal records per delivery id, the unmapped count and the future-dated count dropped."""
    try:
        events = _provider_events(src, body)
    except BadPayload as exc:
        raise Problem(
            422,
            f"The {src.provider} payload is not valid: {exc.field}: {exc.message}",
            errors=[{"field": exc.field, "message": exc.message}],
        ) from None
    result = map_events(src.mapping, events, src.name)
    if result.unmapped:
        UNMAPPED.labels(src.name).inc(len(result.unmapped))
        log.info("ingress.events.unmapped", source=src.name, events=sorted(set(result.unmapped)))
    deliveries: dict[str, list[Any]] = {_delivery_key(e.delivery_id): [] for e in events}
    seen: set[str] = set()
    latest = time.time() + max_future
    future = 0
    for m in result.signals:
        if m.event_key in seen:  # the same message twice in one batch counts once
            continue
        seen.add(m.event_key)
        event_id = fact_id(src.ce_source, m.event_key)
        try:
            signal = api.SignalIn(
                id=event_id,
                lead_id=m.lead_id,
                type=m.type,
                occurred_at=m.occurred_at,
                source=src.name,
                properties=m.properties,
                traits=m.traits,
                previous_id=m.previous_id,
            )
            if signal.occurred_at.timestamp() > latest:
                future += 1
                continue
            message = api.to_message(signal, ce_source=src.ce_source, event_id=event_id)
        except ValidationError as exc:
            raise invalid(exc, f"{src.provider} event") from None
        api.check_record_sizes([signal], [message], max_record)
        deliveries[_delivery_key(m.delivery_id)].append(message)
    return deliveries, len(result.unmapped), future


def _delivery_key(delivery_id: str) -> str:
    # A provider's id is its own text (Marketo's holds the activity name): a long one would
    # overflow the claims table's index, so it is kept as its digest, still one per delivery.
    if len(delivery_id) <= MAX_DELIVERY_ID:
        return delivery_id
    return "sha256:" + hashlib.sha256(delivery_id.encode("utf-8", "replace")).hexdigest()


def _client(request: Request) -> str:
    return request.client.host if request.client is not None else "unknown"


_BODY = {
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
    openapi_extra=_BODY,
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
async def receive_webhook(source: str, request: Request) -> JSONResponse:
    rt: Runtime = request.app.state.runtime
    ingress: Ingress = rt.state["ingress"]
    src = ingress.config.sources.get(source)
    if src is None or not src.enabled:
        raise Problem(404, f"No webhook source {source[:50]!r} is configured here.")
    body = await read_body(request, src.max_body_bytes)
    # Verify first (an HMAC over a body of at most max_body_bytes, read within the body-read
    # timeout), then charge a limit: unsigned junk used to spend the source's bucket and
    # starve genuine deliveries with 429. Failures spend only their own address's bucket.
    try:
        delivery = _verify(src, request, body, ingress.config.tolerance_seconds)
    except Unverified as exc:
        wait = ingress.unverified.take(_client(request))
        if wait:
            WEBHOOKS.labels(src.name, "unverified_limited").inc()
            raise Problem(
                429,
                "Too many requests that could not be verified; retry later.",
                headers=retry_after(TokenBucket.retry_after(wait)),
            ) from None
        WEBHOOKS.labels(src.name, "unverified").inc()
        log.info("ingress.webhook.unverified", source=src.name, reason=str(exc))
        raise unverified() from None
    wait = ingress.buckets[src.name].take()
    if wait:
        WEBHOOKS.labels(src.name, "rate_limited").inc()
        raise Problem(
            429,
            f"Too many requests for source {src.name!r}; retry later.",
            headers=retry_after(TokenBucket.retry_after(wait)),
        )
    max_future, max_record = ingress.max_future_seconds, ingress.max_record_bytes
    if delivery is not None:
        deliveries, future = _standard_signals(src, body, delivery, max_future, max_record)
        unmapped = 0
    else:
        deliveries, unmapped, future = _mapped_signals(src, body, max_future, max_record)
    if future:
        # 202 all the same: providers retry a 4xx for ever, and no retry would fix the clock.
        FUTURE_DROPPED.labels(src.name).inc(future)
        log.warning(
            "ingress.webhook.future_dropped",
            source=src.name,
            dropped=future,
            max_future_seconds=max_future,
        )
    if not deliveries:
        return JSONResponse({"accepted": 0, "duplicate": False, "unmapped": 0}, status_code=200)
    outcome = await ingress.desk.record(src.name, deliveries)
    WEBHOOKS.labels(src.name, "duplicate" if outcome.duplicate else "accepted").inc()
    return JSONResponse(
        {"accepted": outcome.accepted, "duplicate": outcome.duplicate, "unmapped": unmapped},
        status_code=200 if outcome.duplicate else 202,
    )
