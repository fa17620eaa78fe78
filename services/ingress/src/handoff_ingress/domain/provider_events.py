"""A provider's event in one shape, before mapping: who, what (in the provider's words), when."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from pydantic_core import from_json

from handoff.http.values import MAX_BODY_DEPTH, BadValue, check_json

Kind = Literal["activity", "identify", "alias"]


@dataclass(frozen=True, slots=True)
class ProviderEvent:
    """`delivery_id` is what a retry repeats (dedupe key within the source); `event_key` names this
    one signal, so its CloudEvent id is the same however often the delivery comes."""

    delivery_id: str
    lead_id: str
    kind: Kind
    name: str  # the provider's event name: "e_visited_page", "Fill Out Form", "Order Completed"
    occurred_at: datetime
    properties: dict[str, Any] = field(default_factory=dict)
    traits: dict[str, Any] | None = None
    previous_id: str | None = None
    event_key: str = ""

    @property
    def key(self) -> str:
        return self.event_key or self.delivery_id


@dataclass(frozen=True, slots=True)
class MappedSignal:
    """What the ingress hands to the signal path: handoff's own names, ready for a CloudEvent."""

    event_key: str
    delivery_id: str
    lead_id: str
    type: str  # an activity type, or "identify" / "alias"
    occurred_at: datetime
    source: str
    properties: dict[str, Any]
    traits: dict[str, Any] | None
    previous_id: str | None


class BadPayload(ValueError):
    """The body is not the provider's format; `field` is the dotted path at fault (for a 422)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field, self.message = field, message


def read_json(body: bytes) -> Any:
    """A provider's body parsed the way the API parses one: strict JSON, at most 200 levels, and
    holding nothing a consumer could not store (NUL, numbers beyond 64 bits, ...); else BadPayload."""
    try:
        # As handoff.http.body.parse_json reads (that module answers HTTP; the domain does not).
        payload = from_json(body, allow_inf_nan=True)
    except ValueError:
        raise BadPayload("body", "malformed JSON") from None
    try:
        check_json(payload, max_depth=MAX_BODY_DEPTH)
    except BadValue as bad:
        raise BadPayload(bad.where or "body", bad.problem) from None
    return payload
