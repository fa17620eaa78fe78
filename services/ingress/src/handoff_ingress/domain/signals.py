"""A signal as a sender posts it, the checks every accepted signal passes, and the skewed-clock rule.

Shared by POST /v1/signals and the webhooks: a webhook's events become the same `SignalIn`, so
one set of limits (text PostgreSQL can store, times UTC can hold, bounded nesting) guards both.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
)

from handoff.events import signals as sig
from handoff.http.values import clean_text, json_value, utc_time

MAX_BATCH = 1000

# Text PostgreSQL can store (no NUL, no lone surrogate); times UTC can hold, from 1970; free-form
# values no deeper than 32 levels and with numbers inside 64 bits. Each of these, accepted once,
# stopped a consumer for good (issue 10), so the API refuses them with 422 naming the field.
Text = Annotated[str, AfterValidator(clean_text)]
LeadId = Annotated[sig.LeadId, AfterValidator(clean_text)]
Occurred = Annotated[AwareDatetime, AfterValidator(utc_time)]


class SignalIn(BaseModel):
    """One signal as a sender posts it. `id` is the sender's event id (sent twice, counted once)."""

    model_config = ConfigDict(extra="forbid")

    id: Text = Field(min_length=1, max_length=200)
    lead_id: LeadId
    type: sig.SnakeCase = Field(
        description='an activity type such as "page_view", or "identify" or "alias"'
    )
    occurred_at: Occurred = Field(
        description="when it happened; at most a few minutes ahead of the server's clock"
    )
    source: Text | None = Field(default=None, max_length=100)
    properties: Annotated[dict[str, Any], BeforeValidator(json_value)] = Field(default_factory=dict)
    traits: Annotated[sig.Traits | None, BeforeValidator(json_value)] = None
    previous_id: LeadId | None = Field(default=None, description='for "alias": the anonymous id')


class SignalBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    signals: list[SignalIn] = Field(min_length=1, max_length=MAX_BATCH)


def missing_field(s: SignalIn) -> str | None:
    """The field its type requires and it lacks: traits for "identify", previous_id for "alias"."""
    if s.type == "identify" and s.traits is None:
        return "traits"
    if s.type == "alias" and s.previous_id is None:
        return "previous_id"
    return None


def field_path(incoming: Sequence[SignalIn], n: int, name: str) -> str:
    """How an error names a field: `signals.<n>.<name>` in a batch, `<name>` for one signal."""
    return f"signals.{n}.{name}" if len(incoming) > 1 else name


def future_dated(incoming: Sequence[SignalIn], max_future: float, now: float) -> list[int]:
    """Positions of signals dated past now + max_future: a skewed clock must not future-date a
    score or skip a recycle period (issue 10, point 5)."""
    latest = now + max_future
    return [n for n, s in enumerate(incoming) if s.occurred_at.timestamp() > latest]


def future_message(max_future: float) -> str:
    return f"more than {max_future:g} seconds ahead of the server's clock"
