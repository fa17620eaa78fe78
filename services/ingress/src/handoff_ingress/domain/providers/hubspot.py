"""HubSpot: v3 signatures only (v1 and v2 carry no timestamp, so they can be replayed), and its
webhook shapes: CRM subscription batches, behavioural events and workflow "Send a webhook" bodies.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from handoff_ingress.domain.mapping import nested_traits
from handoff_ingress.domain.provider_events import BadPayload, ProviderEvent, read_json
from handoff_ingress.domain.verification import (
    TOLERANCE_SECONDS,
    Unverified,
    any_equal,
    check_clock,
    digits,
)

# HubSpot decodes these escapes in the request URI before signing (its docs list exactly these).
_DECODED = {
    "%3A": ":", "%2F": "/", "%3F": "?", "%40": "@", "%21": "!", "%24": "$",
    "%27": "'", "%28": "(", "%29": ")", "%2A": "*", "%2C": ",", "%3B": ";",
}  # fmt: skip
_ESCAPE = re.compile("|".join(_DECODED), re.IGNORECASE)
WORKFLOW_ACTIVITY = "handoff_activity"  # a static property a workflow adds to name the activity


def signed_uri(uri: str) -> str:
    return _ESCAPE.sub(lambda m: _DECODED[m.group(0).upper()], uri)


def sign(secret: bytes, method: str, uri: str, body: bytes, timestamp_ms: int | str) -> str:
    source = method.upper().encode() + signed_uri(uri).encode() + body + str(timestamp_ms).encode()
    return base64.b64encode(hmac.new(secret, source, hashlib.sha256).digest()).decode()


def verify(
    secrets: Sequence[bytes],
    method: str,
    uri: str,
    headers: Mapping[str, str],
    body: bytes,
    now: float,
    tolerance: float = TOLERANCE_SECONDS,
) -> None:
    given = headers.get("x-hubspot-signature-v3")
    if not given:
        raise Unverified("no v3 signature (v1 and v2 are refused: they can be replayed)")
    stamp = headers.get("x-hubspot-request-timestamp")
    check_clock(digits(stamp, "x-hubspot-request-timestamp") / 1000, now, tolerance)
    try:
        given_bytes = base64.b64decode(given, validate=True)
    except (binascii.Error, ValueError):
        raise Unverified("signature is not base64") from None
    source = method.upper().encode() + signed_uri(uri).encode() + body + (stamp or "").encode()
    expected = [hmac.new(s, source, hashlib.sha256).digest() for s in secrets]
    if not any_equal(expected, [given_bytes]):
        raise Unverified("no matching v3 signature")


def _ms(value: Any, field: str) -> datetime:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise BadPayload(field, "a time in epoch milliseconds is required")
    try:
        return datetime.fromtimestamp(int(value) / 1000, UTC)
    except (ValueError, OverflowError, OSError):
        raise BadPayload(field, "not a time in epoch milliseconds") from None


def _id(value: Any, field: str) -> str:
    if isinstance(value, bool) or not isinstance(value, int | str) or str(value) == "":
        raise BadPayload(field, "an id is required")
    return str(value)


def _subscription_event(
    item: Mapping[str, Any], at: str, prefix: str, trait_names: Mapping[str, str]
) -> list[ProviderEvent]:
    name = item.get("eventName") or item.get("eventType")
    kind = item.get("subscriptionType")
    if not (isinstance(name, str) and name) and not (isinstance(kind, str) and kind):
        raise BadPayload(f"{at}.subscriptionType", "required")
    kind = kind if isinstance(kind, str) else ""
    # The developer-platform format says "object.*" with objectTypeId "0-1" for contacts.
    if kind.startswith("object.") and item.get("objectTypeId") == "0-1":
        kind = "contact." + kind.removeprefix("object.")
    # HubSpot does not promise eventId unique alone; with the portal and subscription it is.
    event_id = _id(item.get("eventId"), f"{at}.eventId")
    delivery = f"{item.get('portalId', '')}:{item.get('subscriptionId', '')}:{event_id}"
    lead = prefix + _id(item.get("objectId"), f"{at}.objectId")
    when = _ms(item.get("occurredAt"), f"{at}.occurredAt")
    if isinstance(name, str) and name:
        props = item.get("properties") if isinstance(item.get("properties"), dict) else {}
        props = dict(props or {})
        if "url" not in props and "hs_url" in props:
            props["url"] = props["hs_url"]
        return [ProviderEvent(delivery, lead, "activity", name, when, properties=props)]
    if kind == "contact.creation":
        return [ProviderEvent(delivery, lead, "identify", kind, when, traits={})]
    if kind == "contact.merge":
        merged = item.get("mergedObjectIds") or []
        primary = item.get("primaryObjectId", item.get("objectId"))
        return [
            ProviderEvent(
                delivery,
                prefix + _id(primary, f"{at}.primaryObjectId"),
                "alias",
                kind,
                when,
                previous_id=prefix + _id(old, f"{at}.mergedObjectIds"),
                event_key=f"{delivery}:{old}",
            )
            for old in merged
            if str(old) != str(primary)
        ]
    if kind == "contact.propertyChange":
        prop = item.get("propertyName")
        if not isinstance(prop, str) or not prop:
            raise BadPayload(f"{at}.propertyName", "required for a property change")
        value = item.get("propertyValue")
        traits = nested_traits({prop: value}, trait_names)
        if traits:
            return [ProviderEvent(delivery, lead, "identify", kind, when, traits=traits)]
        return [
            ProviderEvent(
                delivery,
                lead,
                "activity",
                f"{kind}.{prop}",
                when,
                properties={"property": prop, "value": value},
            )
        ]
    return [ProviderEvent(delivery, lead, "activity", kind, when)]


def _workflow_properties(body: Mapping[str, Any]) -> dict[str, Any]:
    """Flat {"email": ...} (the current action) or legacy {"properties": {"email": {"value": ...}}}."""
    nested = body.get("properties")
    if isinstance(nested, dict):
        return {k: (v.get("value") if isinstance(v, dict) else v) for k, v in nested.items()} | {
            k: v for k, v in body.items() if k != "properties"
        }
    return dict(body)


def _workflow_event(
    body: Mapping[str, Any], raw: bytes, prefix: str, trait_names: Mapping[str, str], now: datetime
) -> list[ProviderEvent]:
    props = _workflow_properties(body)
    contact = next(
        (props[k] for k in ("hs_object_id", "vid", "objectId") if props.get(k) not in (None, "")),
        None,
    )
    lead = prefix + _id(contact, "hs_object_id")
    # A workflow body carries no event id; a retry repeats the body byte for byte.
    delivery = "workflow:" + hashlib.sha256(raw).hexdigest()
    events = [
        ProviderEvent(
            delivery,
            lead,
            "identify",
            "workflow",
            now,
            traits=nested_traits(props, trait_names),
            event_key=delivery + ":identify",
        )
    ]
    activity = props.get(WORKFLOW_ACTIVITY)
    if isinstance(activity, str) and activity:
        extra: dict[str, Any] = {
            k: props[k]
            for k in ("hs_analytics_last_url", "recent_conversion_event_name")
            if k in props
        }
        events.append(
            ProviderEvent(
                delivery,
                lead,
                "activity",
                activity,
                now,
                properties=extra,
                event_key=delivery + ":activity",
            )
        )
    return events


def read(
    body: bytes, *, lead_prefix: str, trait_names: Mapping[str, str], now: datetime
) -> list[ProviderEvent]:
    """HubSpot's body as provider events; BadPayload names the field when it is not HubSpot's shape."""
    payload = read_json(body)
    if isinstance(payload, list):
        if len(payload) > 1000:
            raise BadPayload("body", "at most 1000 events a request")
        events: list[ProviderEvent] = []
        for n, item in enumerate(payload):
            if not isinstance(item, dict):
                raise BadPayload(str(n), "an event object is required")
            events.extend(_subscription_event(item, str(n), lead_prefix, trait_names))
        return events
    if isinstance(payload, dict):
        return _workflow_event(payload, body, lead_prefix, trait_names, now)
    raise BadPayload("body", "a JSON array of events or a workflow's object is required")
