"""One-click accept and reject links: a signed, expiring token over the handoff, the rep, the
action and the expiry. notify signs, routing verifies; both read the keys from
HANDOFF_ONE_CLICK_SECRETS (newest first: during a rotation, the new and the old key).

Pure: HMAC-SHA256 from the standard library, the time passed in. Single use is routing's
to record (a used token's digest in its schema); this module only says whether a token is
genuine, unexpired and for this handoff and rep.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

ACTIONS = ("accept", "reject", "view")  # view: a rep's own queue page, handoff "*"
_VERSION = "1"


class BadToken(ValueError):
    """Why a token is refused, in words a rep can read."""


@dataclass(frozen=True, slots=True)
class Grant:
    handoff_id: str
    rep_id: str
    action: str
    expires_at: int  # unix seconds
    digest: str  # sha256 of the whole token, the single-use record's key


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def key_id(secret: str) -> str:
    """A short name for a key, so a token says which key signed it without revealing it."""
    return hashlib.sha256(b"handoff-one-click-key:" + secret.encode()).hexdigest()[:8]


def _mac(secret: str, payload: bytes) -> bytes:
    return hmac.new(secret.encode(), payload, hashlib.sha256).digest()


def sign(secret: str, handoff_id: str, rep_id: str, action: str, expires_at: int) -> str:
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}")
    fields = [_VERSION, key_id(secret), handoff_id, rep_id, action, str(expires_at)]
    payload = "\x1f".join(fields).encode()
    return f"{_b64(payload)}.{_b64(_mac(secret, payload))}"


def verify(
    secrets: Sequence[str], token: str, now: datetime, *, handoff_id: str | None = None
) -> Grant:
    """The grant a genuine, unexpired token carries; BadToken saying why otherwise."""
    try:
        payload_text, mac_text = token.split(".", 1)
        payload, mac = _unb64(payload_text), _unb64(mac_text)
        version, kid, h_id, rep_id, action, expiry = payload.decode().split("\x1f")
        expires_at = int(expiry)
    except (ValueError, UnicodeDecodeError):
        raise BadToken("This link is damaged or incomplete.") from None
    if version != _VERSION or action not in ACTIONS:
        raise BadToken("This link is damaged or incomplete.")
    key = next((s for s in secrets if key_id(s) == kid), None)
    if key is None or not hmac.compare_digest(_mac(key, payload), mac):
        raise BadToken("This link is not valid.")
    if handoff_id is not None and h_id != handoff_id:
        raise BadToken("This link is not valid.")
    if now.timestamp() >= expires_at:
        raise BadToken("This link has expired; open the lead in your queue instead.")
    return Grant(h_id, rep_id, action, expires_at, hashlib.sha256(token.encode()).hexdigest())
