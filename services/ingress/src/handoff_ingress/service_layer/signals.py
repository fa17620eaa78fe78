"""POST /v1/signals: each signal checked, turned into its record, then published at once or not at all.

Every check runs before anything is published, so a 422 or 413 accepts nothing and the sender
can fix and resend the whole request.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from pydantic import ValidationError
from pydantic_core import to_json

from handoff.http.body import invalid, json_payload
from handoff.http.problem import Problem
from handoff.messaging.producer import Message
from handoff_ingress.adapters.events_out import record_bytes, to_message
from handoff_ingress.domain.signals import (
    SignalBatch,
    SignalIn,
    field_path,
    future_dated,
    future_message,
    missing_field,
)

Publish = Callable[[Sequence[Message]], Awaitable[None]]


@dataclass(frozen=True)
class Limits:
    max_future_seconds: float  # a signal dated further ahead is a skewed clock
    max_record_bytes: int  # the producer's max request size


def parse_signals(body: bytes) -> list[SignalIn]:
    """One signal or {"signals": [...]}; a 422 names the field at fault.

    A body is first read in one pass (JSON straight into the models); anything that pass refuses
    takes the general path (parse, check every value, validate), which gives the same answers as
    ever, so the one-pass read only changes how fast a good body is taken. Both passes refuse the
    same values: the models check their free-form values and forbid unknown fields.
    """
    batch = b'"signals"' in body[:200]
    try:
        if batch:
            return SignalBatch.model_validate_json(body).signals
        return [SignalIn.model_validate_json(body)]
    except ValidationError:
        pass
    payload = json_payload(body)
    try:
        if isinstance(payload, dict) and "signals" in payload:
            return SignalBatch.model_validate(payload).signals
        return [SignalIn.model_validate(payload)]
    except ValidationError as exc:
        raise invalid(exc, "signal") from None


async def accept_signals(incoming: Sequence[SignalIn], limits: Limits, publish: Publish) -> int:
    """Publish the signals and return how many; Problem 422, 413 or 503 and nothing published."""
    messages = records(incoming)
    future = future_dated(incoming, limits.max_future_seconds, time.time())
    if future:
        message = future_message(limits.max_future_seconds)
        errors = [
            {"field": field_path(incoming, n, "occurred_at"), "message": message} for n in future
        ]
        raise Problem(
            422, f"The signal is not valid: {errors[0]['field']} is in the future.", errors=errors
        )
    check_record_sizes(incoming, messages, limits.max_record_bytes)
    await publish(messages)
    return len(messages)


def records(incoming: Sequence[SignalIn]) -> list[Message]:
    """The signals' records; 422 naming every field a signal's type requires and it lacks."""
    errors = []
    messages = []
    for n, s in enumerate(incoming):
        missing = missing_field(s)
        if missing is not None:
            errors.append(
                {
                    "field": field_path(incoming, n, missing),
                    "message": f"required when type is {s.type!r}",
                }
            )
        elif not errors:
            messages.append(to_message(s))
    if errors:
        raise Problem(
            422, "The signal is not valid: " + errors[0]["field"] + " is missing.", errors=errors
        )
    return messages


def check_record_sizes(
    incoming: Sequence[SignalIn], messages: Sequence[Message], limit: int
) -> None:
    """413 naming the field before publishing a record the producer would refuse: a retry of
    it can never succeed, so 503 with Retry-After (as before) had the sender retry for ever."""
    errors = []
    for n, (s, m) in enumerate(zip(incoming, messages, strict=True)):
        size = record_bytes(m)
        if size > limit:
            part = "traits" if len(to_json(s.traits)) > len(to_json(s.properties)) else "properties"
            errors.append(
                {
                    "field": field_path(incoming, n, part),
                    "message": f"the signal is {size} bytes on the broker; at most {limit}",
                }
            )
    if errors:
        raise Problem(
            413,
            f"The signal is too large: {errors[0]['field']}: {errors[0]['message']}.",
            errors=errors,
        )
