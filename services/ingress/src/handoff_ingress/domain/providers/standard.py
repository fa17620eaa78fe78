"""Standard Webhooks (standardwebhooks.com): webhook-id, webhook-timestamp, "v1,<base64 HMAC-SHA256>".

The body is handoff's own signal format (the same as POST /v1/signals), so there is no mapping.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping, Sequence

from handoff_ingress.domain.verification import (
    TOLERANCE_SECONDS,
    Unverified,
    any_equal,
    check_clock,
    digits,
)

PREFIX = "whsec_"


def decode_secret(secret: str) -> bytes:
    """ "whsec_<base64>" (the prefix is optional) to the key bytes; ValueError when not base64."""
    raw = secret.strip().removeprefix(PREFIX)
    try:
        key = base64.b64decode(raw + "=" * (-len(raw) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("not a whsec_ secret (base64 after the whsec_ prefix)") from None
    if len(key) < 16:
        raise ValueError("too short: a Standard Webhooks secret has at least 16 bytes")
    return key


def sign(key: bytes, msg_id: str, timestamp: int | str, body: bytes) -> str:
    """The webhook-signature value a sender puts on a request (used by tests and the docs)."""
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def verify(
    keys: Sequence[bytes],
    headers: Mapping[str, str],
    body: bytes,
    now: float,
    tolerance: float = TOLERANCE_SECONDS,
) -> str:
    """The webhook-id of a genuine request (the delivery id); Unverified otherwise."""
    msg_id = headers.get("webhook-id", "")
    if not msg_id or len(msg_id) > 200:
        raise Unverified("webhook-id missing")
    stamp = headers.get("webhook-timestamp")
    check_clock(digits(stamp, "webhook-timestamp"), now, tolerance)
    given = []
    for part in headers.get("webhook-signature", "").split(" "):
        version, _, encoded = part.partition(",")
        if version != "v1":
            continue
        try:
            given.append(base64.b64decode(encoded, validate=True))
        except (binascii.Error, ValueError):
            continue
    signed = f"{msg_id}.{stamp}.".encode() + body
    expected = [hmac.new(k, signed, hashlib.sha256).digest() for k in keys]
    if not given or not any_equal(expected, given):
        raise Unverified("no matching v1 signature")
    return msg_id
