"""Test senders for each webhook provider: a body and the headers the real tool would send."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from handoff_scoring.ingress import hubspot, segment, standard

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
