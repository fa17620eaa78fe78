"""The CloudEvents 1.0 envelope (structured JSON mode) that every handoff topic carries."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    model_validator,
)

from handoff.events.encode import NAMESPACE as NAMESPACE
from handoff.events.encode import encode_event
from handoff.events.encode import fact_id as fact_id
from handoff.events.values import UtcDatetime, refuse_nul_anywhere

CONTENT_TYPE = "application/cloudevents+json; charset=UTF-8"
CONTENT_TYPE_HEADER = ("content-type", CONTENT_TYPE.encode())

# Context flag: the raw JSON holds no `\u0000` escape (a raw NUL byte is invalid JSON).
NUL_FREE = "handoff.nul_free"
_ESCAPED_NUL = b"\\u0000"


def utcnow() -> datetime:
    return datetime.now(UTC)


class EventData(BaseModel):
    """Base of every `data` payload: tolerant of fields added by newer producers."""

    model_config = ConfigDict(extra="ignore", frozen=True, hide_input_in_errors=True)


D = TypeVar("D", bound=EventData)


class CloudEvent(BaseModel, Generic[D]):
    """A CloudEvents 1.0 event; subclasses pin `type` and the `data` model."""

    model_config = ConfigDict(extra="allow", frozen=True, hide_input_in_errors=True)

    specversion: Literal["1.0"] = "1.0"
    id: str = Field(min_length=1, max_length=200)
    source: str = Field(min_length=1)
    type: str
    subject: str | None = None
    time: UtcDatetime = Field(default_factory=utcnow)
    datacontenttype: str = "application/json"
    data: D

    @model_validator(mode="before")
    @classmethod
    def _no_nul_anywhere(cls, value: Any, info: ValidationInfo) -> Any:
        # PostgreSQL text and jsonb refuse U+0000: an event holding one (in its id, source,
        # lead_id or deep in its properties) would fail every transaction it is part of.
        if info.context and info.context.get(NUL_FREE):
            return value  # parse_event saw no escaped NUL in the raw bytes: skip the walk
        return refuse_nul_anywhere(value)

    def to_json(self) -> bytes:
        """The event's bytes, through the one encoder the services' hot paths use too."""
        attributes = self.model_dump(mode="json", exclude_none=True)
        return encode_event(
            type=attributes.pop("type"),
            id=attributes.pop("id"),
            source=attributes.pop("source"),
            subject=attributes.pop("subject", None),
            time=attributes.pop("time"),
            data=attributes.pop("data", None),
            extensions={k: v for k, v in attributes.items() if k not in _WRITTEN},
        )


# Attributes encode_event writes itself, whatever the model holds.
_WRITTEN = frozenset({"specversion", "datacontenttype"})


class GenericEvent(CloudEvent[Any]):
    """Any well-formed CloudEvent, used to tell an unknown type from a broken value."""

    data: Any = None


_generic = TypeAdapter(GenericEvent)

# A validation error's text never repeats the value (emails, traits): for logs and DLQ headers.
ADAPTER_CONFIG = ConfigDict(hide_input_in_errors=True)


class UnknownEventType(Exception):
    """A well-formed event of a type this consumer does not handle: skip it, it is not broken."""


def parse_event(adapter: TypeAdapter[Any], raw: bytes) -> Any:
    """Parse raw bytes with a topic's adapter; raise UnknownEventType for foreign types."""
    # One scan of the bytes in C spares walking every string of every event in Python.
    context = None if _ESCAPED_NUL in raw else {NUL_FREE: True}
    try:
        return adapter.validate_json(raw, context=context)
    except ValidationError as exc:
        if any(e["type"] == "union_tag_invalid" for e in exc.errors()):
            _generic.validate_json(
                raw, context=context
            )  # raises ValidationError if the envelope itself is broken
            raise UnknownEventType from exc
        raise
