"""Test senders for each webhook provider: a body and the headers the real tool would send."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI

from handoff.db import create_engine
from handoff.messaging.producer import Message
from handoff_ingress.adapters.publisher import SignalPublisher
from handoff_ingress.app import create_app
from handoff_ingress.config import load_ingress
from handoff_ingress.domain.providers import hubspot, segment, standard
from handoff_ingress.entrypoints.deps import IngressDeps
from handoff_ingress.service_layer.deliveries import DeliveryDesk
from handoff_ingress.service_layer.signals import Limits
from handoff_ingress.service_layer.webhooks import Webhooks
from handoff_ingress.settings import IngressSettings

STANDARD_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
STANDARD_PREVIOUS = "whsec_" + "b2xkLXNlY3JldC1vbGQtc2VjcmV0LW9sZA=="
HUBSPOT_SECRET = "hubspot-client-secret-0001"
SEGMENT_SECRET = "segment-shared-secret-0001"
MARKETO_TOKEN = "marketo-token-0123456789"

WEBHOOK_ENV = {
    "HANDOFF_WEBHOOK_STANDARD_SECRET": STANDARD_SECRET,
    "HANDOFF_WEBHOOK_HUBSPOT_SECRET": HUBSPOT_SECRET,
    "HANDOFF_WEBHOOK_SEGMENT_SECRET": SEGMENT_SECRET,
    "HANDOFF_WEBHOOK_MARKETO_TOKEN": MARKETO_TOKEN,
}

JSON = {"content-type": "application/json"}


def dumps(payload: Any) -> bytes:
    return json.dumps(payload, ensure_ascii=False).encode()


def standard_request(
    signals: Any,
    *,
    msg_id: str | None = None,
    secret: str = STANDARD_SECRET,
    at: float | None = None,
) -> tuple[bytes, dict[str, str]]:
    body = dumps(signals)
    stamp = int(time.time() if at is None else at)
    msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
    sig = standard.sign(standard.decode_secret(secret), msg_id, stamp, body)
    return body, JSON | {
        "webhook-id": msg_id,
        "webhook-timestamp": str(stamp),
        "webhook-signature": sig,
    }


def hubspot_request(
    payload: Any, url: str, *, secret: str = HUBSPOT_SECRET, at_ms: int | None = None
) -> tuple[bytes, dict[str, str]]:
    body = dumps(payload)
    stamp = int(time.time() * 1000) if at_ms is None else at_ms
    sig = hubspot.sign(secret.encode(), "POST", url, body, stamp)
    return body, JSON | {
        "x-hubspot-signature-v3": sig,
        "x-hubspot-request-timestamp": str(stamp),
    }


def segment_request(payload: Any, *, secret: str = SEGMENT_SECRET) -> tuple[bytes, dict[str, str]]:
    body = dumps(payload)
    return body, JSON | {"x-signature": segment.sign(secret.encode(), body)}


def marketo_request(payload: Any, *, token: str = MARKETO_TOKEN) -> tuple[bytes, dict[str, str]]:
    return dumps(payload), JSON | {"x-handoff-token": token}


class RecordingProducer:
    """Stands in for the broker in unit tests (no lifespan): keeps what would have been sent."""

    def __init__(self) -> None:
        self.sent: list[Message] = []

    async def send_all(self, messages: Sequence[Message]) -> None:
        self.sent.extend(messages)


def offline_ingress(settings: IngressSettings) -> tuple[FastAPI, RecordingProducer]:
    """The ingress app without its lifespan: no database, and the broker a RecordingProducer.
    The webhook desk is never started, so only POST /v1/signals and the checks before
    settling a webhook can be exercised this way."""
    app = create_app(settings)
    producer = RecordingProducer()
    publish = SignalPublisher(producer, settings.publish_timeout_seconds)
    limits = Limits(settings.signal_max_future_seconds, settings.kafka_max_request_bytes)
    config = load_ingress(settings.ingress_path, WEBHOOK_ENV)
    desk = DeliveryDesk(create_engine(settings.database_url), publish)  # never connects
    app.state.deps = IngressDeps(settings, publish, limits, Webhooks.build(config, desk, limits))
    return app, producer
