"""Segment: track, identify, page, alias and batch calls of the Segment spec, deduplicated on
messageId; X-Signature (hex HMAC-SHA1 of the body) is checked when the source has a secret."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from handoff_ingress.domain.mapping import nested_traits
from handoff_ingress.domain.provider_events import BadPayload, ProviderEvent, read_json
from handoff_ingress.domain.verification import Unverified, any_equal

MAX_BATCH = 1000


def sign(secret: bytes, body: bytes) -> str:
    return hmac.new(secret, body, hashlib.sha1).hexdigest()


def verify(secrets: Sequence[bytes], headers: Mapping[str, str], body: bytes) -> None:
    try:
        given = bytes.fromhex(headers.get("x-signature", ""))
    except ValueError:
        raise Unverified("x-signature is not hex") from None
    expected = [hmac.new(s, body, hashlib.sha1).digest() for s in secrets]
    if not given or not any_equal(expected, [given]):
        raise Unverified("no matching x-signature")


def _time(message: Mapping[str, Any], at: str, now: datetime) -> datetime:
    for key in ("timestamp", "originalTimestamp", "sentAt", "receivedAt"):
        value = message.get(key)
        if value in (None, ""):
            continue
        if not isinstance(value, str):
            raise BadPayload(f"{at}{key}", "an ISO 8601 time is required")
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise BadPayload(f"{at}{key}", "not an ISO 8601 time") from None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return now


def _flatten(traits: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in traits.items():
        if isinstance(value, dict):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _str(message: Mapping[str, Any], key: str) -> str | None:
    value = message.get(key)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value if isinstance(value, str) and value else None


def _object(parent: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = parent.get(key)
    return dict(value) if isinstance(value, dict) else {}


def _message(message: Any, at: str, trait_names: Mapping[str, str], now: datetime) -> ProviderEvent:
    if not isinstance(message, dict):
        raise BadPayload(at.rstrip(".") or "body", "a Segment message object is required")
    message_id = _str(message, "messageId")
    if message_id is None:
        raise BadPayload(f"{at}messageId", "required (it is how retries are recognised)")
    kind = message.get("type")
    lead = _str(message, "userId") or _str(message, "anonymousId")
    if lead is None:
        raise BadPayload(f"{at}userId", "userId or anonymousId is required")
    when = _time(message, at, now)
    props = _object(message, "properties")
    context = _object(message, "context")
    if kind == "track":
        name = message.get("event")
        if not isinstance(name, str) or not name:
            raise BadPayload(f"{at}event", "required for a track call")
        return ProviderEvent(message_id, lead, "activity", name, when, properties=props)
    if kind == "page":
        merged = _object(context, "page") | props
        if message.get("name"):
            merged.setdefault("name", message.get("name"))
        return ProviderEvent(message_id, lead, "activity", "page", when, properties=merged)
    if kind == "identify":
        raw = _object(message, "traits") or _object(context, "traits")
        traits = nested_traits(_flatten(raw), trait_names)
        return ProviderEvent(message_id, lead, "identify", "identify", when, traits=traits)
    if kind == "alias":
        previous = _str(message, "previousId")
        user = _str(message, "userId")
        if previous is None or user is None:
            raise BadPayload(f"{at}previousId", "userId and previousId are required for alias")
        return ProviderEvent(message_id, user, "alias", "alias", when, previous_id=previous)
    if isinstance(kind, str) and kind in {"screen", "group"}:
        return ProviderEvent(message_id, lead, "activity", kind, when, properties=props)
    raise BadPayload(f"{at}type", "one of track, identify, page, alias, screen, group")


def read(body: bytes, *, trait_names: Mapping[str, str], now: datetime) -> list[ProviderEvent]:
    payload = read_json(body)
    if isinstance(payload, dict) and "batch" in payload:
        batch = payload["batch"]
        if not isinstance(batch, list) or not batch:
            raise BadPayload("batch", "a non-empty list of messages is required")
        if len(batch) > MAX_BATCH:
            raise BadPayload("batch", f"at most {MAX_BATCH} messages a request")
        return [_message(m, f"batch.{n}.", trait_names, now) for n, m in enumerate(batch)]
    return [_message(payload, "", trait_names, now)]
