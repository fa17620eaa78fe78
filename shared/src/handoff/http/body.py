"""Parse a JSON body into a model after auth and content type were checked; a 422 names the field."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from handoff.http.problem import Problem, field_errors

BodyT = TypeVar("BodyT", bound=BaseModel)


def json_payload(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Problem(
            422,
            f"The body is not valid JSON: {exc}",
            errors=[{"field": "body", "message": "malformed JSON"}],
        ) from None


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
