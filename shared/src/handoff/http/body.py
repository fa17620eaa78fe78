"""Parse a JSON body into a model after auth and content type were checked; a 422 names the field."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic_core import from_json

from handoff.http.problem import Problem, field_errors
from handoff.http.values import MAX_BODY_DEPTH, BadValue, check_json

BodyT = TypeVar("BodyT", bound=BaseModel)


def parse_json(raw: bytes) -> Any:
    """JSON as UTF-8, no lone surrogates, at most 200 levels deep; ValueError otherwise.

    The standard library's reader raised RecursionError (a 500) on 5,000 nested brackets;
    pydantic's reader stops at 200 levels with a ValueError, and is the reader the consumers use.
    NaN and Infinity are read, as the standard library did, so `check_json` can name their field.
    """
    return from_json(raw, allow_inf_nan=True)


def json_payload(raw: bytes) -> Any:
    """The parsed body, or 422: not JSON, or holding a value no consumer could store (named)."""
    try:
        payload = parse_json(raw)
    except ValueError as exc:
        raise Problem(
            422,
            f"The body is not valid JSON: {exc}",
            errors=[{"field": "body", "message": "malformed JSON"}],
        ) from None
    try:
        check_json(payload, max_depth=MAX_BODY_DEPTH)
    except BadValue as bad:
        field = bad.where or "body"
        raise Problem(
            422,
            f"The body is not valid: {field}: {bad.problem}.",
            errors=[{"field": field, "message": bad.problem}],
        ) from None
    return payload


def invalid(exc: ValidationError, what: str = "request") -> Problem:
    errors = field_errors(exc.errors())
    summary = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
    return Problem(422, f"The {what} is not valid: {summary}", errors=errors)


def parse_body(model: type[BodyT], raw: bytes) -> BodyT:
    """Routes read the raw body so FastAPI cannot answer 422 before the key is checked."""
    try:
        return model.model_validate(json_payload(raw))
    except ValidationError as exc:
        raise invalid(exc) from None
