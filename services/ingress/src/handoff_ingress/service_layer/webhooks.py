"""POST /v1/webhooks/{source} after the body is read: verify the provider's way, charge the limits,
map to signal records, drop the future-dated, then settle the delivery ids once (DeliveryDesk).

Verification and mapping are the pure functions of domain/; the records are those POST
/v1/signals publishes; only the desk touches the database and the broker.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog
from pydantic import ValidationError

from handoff.events.encode import fact_id
from handoff.http.body import invalid
from handoff.http.limits import retry_after
from handoff.http.problem import Problem
from handoff.messaging.producer import Message
from handoff_ingress.adapters.events_out import to_message
from handoff_ingress.adapters.metrics import FUTURE_DROPPED, UNMAPPED, WEBHOOKS
from handoff_ingress.config import IngressConfig, Source
from handoff_ingress.domain.mapping import map_events
from handoff_ingress.domain.provider_events import BadPayload, ProviderEvent
from handoff_ingress.domain.providers import hubspot, marketo, segment, standard
from handoff_ingress.domain.ratelimit import AddressLimiter, TokenBucket
from handoff_ingress.domain.signals import SignalIn, field_path, future_dated, missing_field
from handoff_ingress.domain.verification import Unverified
from handoff_ingress.service_layer.deliveries import DeliveryDesk
from handoff_ingress.service_layer.signals import Limits, check_record_sizes, parse_signals

log = structlog.get_logger("handoff_ingress.webhooks")

MAX_DELIVERY_ID = 200  # longer provider ids are stored as their SHA-256: index rows stay small

Deliveries = dict[str, list[Message]]  # delivery id -> its signal records


@dataclass(frozen=True)
class WebhookRequest:
    """What verification reads of a request: the signature covers the exact body bytes."""

    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes
    client: str  # the client address, for the limit on failed verifications


@dataclass(frozen=True)
class WebhookAnswer:
    accepted: int
    duplicate: bool
    unmapped: int
    status: int  # 202 stored; 200 seen before, or nothing to store

    def body(self) -> dict[str, int | bool]:
        return {"accepted": self.accepted, "duplicate": self.duplicate, "unmapped": self.unmapped}


@dataclass(frozen=True)
class Webhooks:
    """The sources as configured, the delivery desk and the rate limits (in memory, per process)."""

    config: IngressConfig
    desk: DeliveryDesk
    buckets: Mapping[str, TokenBucket]  # per source: verified deliveries only
    unverified: AddressLimiter  # per client address: failed verifications only
    limits: Limits

    @classmethod
    def build(cls, config: IngressConfig, desk: DeliveryDesk, limits: Limits) -> Webhooks:
        buckets = {n: TokenBucket(s.per_second, s.burst) for n, s in config.sources.items()}
        failures = config.unverified_rate_limit
        limiter = AddressLimiter(
            failures.per_second, failures.burst, config.unverified_max_addresses
        )
        return cls(config, desk, buckets, limiter, limits)

    def source(self, name: str) -> Source:
        """The enabled source of that name; 404 otherwise."""
        src = self.config.sources.get(name)
        if src is None or not src.enabled:
            raise Problem(404, f"No webhook source {name[:50]!r} is configured here.")
        return src


def unverified() -> Problem:
    # One body for every failure (signature, secret, timestamp, missing header): no oracle.
    return Problem(401, "The webhook could not be verified.")


async def receive(webhooks: Webhooks, src: Source, request: WebhookRequest) -> WebhookAnswer:
    """A delivery whose body was read: verified, limited, mapped to signals and settled once.

    The one path of both doors to it, FastAPI's route and the lean ASGI route (entrypoints/
    lean_webhooks.py), so they cannot answer differently once the body is in hand.
    """
    delivery = admit(webhooks, src, request)
    if delivery is not None:  # Standard Webhooks: the body is handoff's own signal format
        deliveries, future = standard_signals(
            src, parse_signals(request.body), delivery, webhooks.limits
        )
        unmapped = 0
    else:
        deliveries, unmapped, future = mapped_signals(src, request.body, webhooks.limits)
    return await settle(webhooks, src, deliveries, unmapped, future)


def admit(webhooks: Webhooks, src: Source, request: WebhookRequest) -> str | None:
    """Verify, then charge a limit; the Standard Webhooks id when the provider gives one.

    Verification comes first (an HMAC over a body of at most max_body_bytes, read within the
    body-read timeout): unsigned junk used to spend the source's bucket and starve genuine
    deliveries with 429. Failures spend only their own address's bucket.
    """
    try:
        delivery = verify(src, request, webhooks.config.tolerance_seconds)
    except Unverified as exc:
        wait = webhooks.unverified.take(request.client)
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
    wait = webhooks.buckets[src.name].take()
    if wait:
        WEBHOOKS.labels(src.name, "rate_limited").inc()
        raise Problem(
            429,
            f"Too many requests for source {src.name!r}; retry later.",
            headers=retry_after(TokenBucket.retry_after(wait)),
        )
    return delivery


def verify(src: Source, request: WebhookRequest, tolerance: float) -> str | None:
    """Raise Unverified unless genuine; the Standard Webhooks id when the provider gives one."""
    now = time.time()
    keys = src.secrets.active(datetime.now(UTC))
    headers, body = request.headers, request.body
    if src.provider == "standard":
        return standard.verify(keys, headers, body, now, tolerance)
    if src.provider == "hubspot":
        hubspot.verify(
            keys, request.method, src.public_url or request.url, headers, body, now, tolerance
        )
    elif src.provider == "segment":
        if keys or not src.allow_unsigned:
            segment.verify(keys, headers, body)
    else:
        marketo.verify(keys, headers, src.token_header)
    return None


async def settle(
    webhooks: Webhooks, src: Source, deliveries: Deliveries, unmapped: int, future: int
) -> WebhookAnswer:
    """Count the future-dated drops, then store the delivery ids and publish their signals once."""
    if future:
        # 202 all the same: providers retry a 4xx for ever, and no retry would fix the clock.
        FUTURE_DROPPED.labels(src.name).inc(future)
        log.warning(
            "ingress.webhook.future_dropped",
            source=src.name,
            dropped=future,
            max_future_seconds=webhooks.limits.max_future_seconds,
        )
    if not deliveries:
        return WebhookAnswer(0, duplicate=False, unmapped=0, status=200)
    outcome = await webhooks.desk.record(src.name, deliveries)
    WEBHOOKS.labels(src.name, "duplicate" if outcome.duplicate else "accepted").inc()
    return WebhookAnswer(
        outcome.accepted,
        duplicate=outcome.duplicate,
        unmapped=unmapped,
        status=200 if outcome.duplicate else 202,
    )


def standard_signals(
    src: Source, incoming: Sequence[SignalIn], delivery: str, limits: Limits
) -> tuple[Deliveries, int]:
    """A Standard Webhooks delivery's records (handoff's own signal format), and how many were
    dropped for being dated in the future."""
    future = set(future_dated(incoming, limits.max_future_seconds, time.time()))
    events = []
    for n, s in enumerate(incoming):
        if n in future:
            continue
        missing = missing_field(s)
        if missing is not None:
            field = field_path(incoming, n, missing)
            raise Problem(
                422,
                f"The signal is not valid: {field} is missing.",
                errors=[{"field": field, "message": f"required when type is {s.type!r}"}],
            )
        events.append(to_message(s, ce_source=src.ce_source, event_id=fact_id(src.ce_source, s.id)))
    kept = [s for n, s in enumerate(incoming) if n not in future]
    check_record_sizes(kept, events, limits.max_record_bytes)
    return {delivery: events}, len(future)


def provider_events(src: Source, body: bytes) -> list[ProviderEvent]:
    """The provider's body read as events; 422 naming the field when it is not its format."""
    now = datetime.now(UTC)
    try:
        if src.provider == "hubspot":
            return hubspot.read(
                body, lead_prefix=src.lead_id_prefix, trait_names=src.traits, now=now
            )
        if src.provider == "segment":
            return segment.read(body, trait_names=src.traits, now=now)
        return marketo.read(
            body, lead_prefix=src.lead_id_prefix, trait_names=src.traits, zone=src.zone, now=now
        )
    except BadPayload as exc:
        raise Problem(
            422,
            f"The {src.provider} payload is not valid: {exc.field}: {exc.message}",
            errors=[{"field": exc.field, "message": exc.message}],
        ) from None


def mapped_signals(src: Source, body: bytes, limits: Limits) -> tuple[Deliveries, int, int]:
    """Signal records per delivery id, the unmapped count and the future-dated count dropped."""
    events = provider_events(src, body)
    result = map_events(src.mapping, events, src.name)
    if result.unmapped:
        UNMAPPED.labels(src.name).inc(len(result.unmapped))
        log.info("ingress.events.unmapped", source=src.name, events=sorted(set(result.unmapped)))
    deliveries: Deliveries = {delivery_key(e.delivery_id): [] for e in events}
    seen: set[str] = set()
    latest = time.time() + limits.max_future_seconds
    future = 0
    for m in result.signals:
        if m.event_key in seen:  # the same message twice in one batch counts once
            continue
        seen.add(m.event_key)
        event_id = fact_id(src.ce_source, m.event_key)
        try:
            signal = SignalIn(
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
            message = to_message(signal, ce_source=src.ce_source, event_id=event_id)
        except ValidationError as exc:
            raise invalid(exc, f"{src.provider} event") from None
        check_record_sizes([signal], [message], limits.max_record_bytes)
        deliveries[delivery_key(m.delivery_id)].append(message)
    return deliveries, len(result.unmapped), future


def delivery_key(delivery_id: str) -> str:
    # A provider's id is its own text (Marketo's holds the activity name): a long one would
    # overflow the claims table's index, so it is kept as its digest, still one per delivery.
    if len(delivery_id) <= MAX_DELIVERY_ID:
        return delivery_id
    return "sha256:" + hashlib.sha256(delivery_id.encode("utf-8", "replace")).hexdigest()
