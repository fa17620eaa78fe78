"""Marketo: its webhooks cannot sign, so a per-source token in a custom header (constant-time
compare), and dedupe on a natural key: lead id plus activity id, or campaign run and time."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, tzinfo
from typing import Any

from handoff_ingress.domain.mapping import nested_traits
from handoff_ingress.domain.provider_events import BadPayload, ProviderEvent, read_json
from handoff_ingress.domain.verification import Unverified, any_equal

# Fields of the documented template that describe the activity rather than the person.
PROPERTY_FIELDS = ("url", "asset", "form", "campaign_id", "campaign_name", "program", "score")


def verify(tokens: Sequence[bytes], headers: Mapping[str, str], header: str) -> None:
    given = headers.get(header.lower(), "")
    if not given or not any_equal(tokens, [given.encode()]):
        raise Unverified("token missing or wrong")


def _text(payload: Mapping[str, Any], key: str) -> str | None:
    """Marketo renders an empty token as "" (or leaves "{{...}}" when the token is unknown)."""
    value = payload.get(key)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        return None
    value = value.strip()
    return value if value and not value.startswith("{{") else None


def _time(raw: str | None, zone: tzinfo, now: datetime) -> datetime:
    """{{system.dateTime}} is "2026-11-21 10:00:00" in the instance's time zone; ISO also works."""
    if raw is None:
        return now
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        raise BadPayload("occurred_at", "a time like 2026-11-21 10:00:00 is required") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=zone)


def read(
    body: bytes,
    *,
    lead_prefix: str,
    trait_names: Mapping[str, str],
    zone: tzinfo = UTC,
    now: datetime,
) -> list[ProviderEvent]:
    payload = read_json(body)
    if not isinstance(payload, dict):
        raise BadPayload("body", "a JSON object (the webhook template) is required")
    payload = {
        k: v for k, v in payload.items() if _text(payload, k) is not None or not isinstance(v, str)
    }
    lead_raw = _text(payload, "lead_id")
    if lead_raw is None:
        raise BadPayload("lead_id", "required: put {{lead.Id}} in the template")
    activity = _text(payload, "activity")
    if activity is None:
        raise BadPayload("activity", 'required, e.g. "Fill Out Form"')
    raw_time = _text(payload, "occurred_at")
    when = _time(raw_time, zone, now)
    run = _text(payload, "activity_id") or ":".join(
        p or ""
        for p in (_text(payload, "campaign_run_id") or _text(payload, "campaign_id"), raw_time)
    )
    if run.strip(":") == "":
        run = hashlib.sha256(body).hexdigest()
    delivery = f"{lead_raw}:{activity}:{run}"
    lead = lead_prefix + lead_raw
    events: list[ProviderEvent] = []
    traits = nested_traits(payload, trait_names)
    if traits:
        events.append(
            ProviderEvent(
                delivery, lead, "identify", "identify", when, traits=traits,
                event_key=delivery + ":identify",
            )
        )  # fmt: skip
    props = {k: v for k in PROPERTY_FIELDS if (v := _text(payload, k)) is not None}
    events.append(
        ProviderEvent(
            delivery, lead, "activity", activity, when, properties=props,
            event_key=delivery + ":activity",
        )
    )  # fmt: skip
    return events
