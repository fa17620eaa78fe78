"""What a request's values may hold, so nothing accepted can stall a consumer or a database later.

PostgreSQL text refuses NUL, UTF-8 cannot carry a lone surrogate, a JSON reader downstream has a
nesting limit (pydantic's is 200 levels, envelope included), a BIGINT or a JSON number read by
another language stops at 64 bits, and a datetime past 9999 or before year 1 in UTC cannot be
built. Each check raises ValueError naming where inside the value it failed, so the route's
422 names the field.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Any

MAX_DEPTH = 32  # nesting inside one property or trait value; far below the readers' 200
MAX_BODY_DEPTH = MAX_DEPTH + 8  # a whole body: a batch, a signal, its properties, then MAX_DEPTH
INT64 = (-(2**63), 2**63 - 1)
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)  # before the Unix epoch is no activity we score
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def text_problem(value: str) -> str | None:
    """Why a string cannot be stored as text, or None when it can."""
    found = _UNSTORABLE.search(value)
    if found is None:
        return None
    return "contains a NUL character" if found.group() == "\x00" else "is not valid Unicode"


def clean_text(value: str) -> str:
    """A pydantic AfterValidator for strings: no NUL, no lone surrogate."""
    problem = text_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


class BadValue(ValueError):
    """A value no consumer could store; `where` is the dotted path inside it ("" for itself)."""

    def __init__(self, where: str, problem: str) -> None:
        super().__init__(f"{where}: {problem}" if where else problem)
        self.where, self.problem = where, problem


def _scalar_problem(value: Any) -> str | None:
    """What no consumer could store in a JSON scalar; None when fine (or not a scalar)."""
    if isinstance(value, str):
        return text_problem(value)
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return None if INT64[0] <= value <= INT64[1] else "a number beyond 64 bits"
    if isinstance(value, float):
        return None if math.isfinite(value) else "not a finite number"
    return None


def check_json(value: Any, where: str = "", depth: int = 0, max_depth: int = MAX_DEPTH) -> None:
    """A parsed JSON value every consumer can store and read again; BadValue names the spot."""
    if depth > max_depth:
        raise BadValue(where, f"nested deeper than {max_depth} levels")
    problem = _scalar_problem(value)
    if problem is not None:
        raise BadValue(where, problem)
    if isinstance(value, dict):
        for key, item in value.items():
            name = str(key)
            problem = text_problem(name)
            if problem is not None:
                raise BadValue(where, f"a key {problem}")
            check_json(item, f"{where}.{name}" if where else name, depth + 1, max_depth)
    elif isinstance(value, list | tuple):
        for n, item in enumerate(value):
            check_json(item, f"{where}.{n}" if where else str(n), depth + 1, max_depth)


def json_value(value: Any) -> Any:
    """A pydantic BeforeValidator running `check_json` on the raw value."""
    check_json(value)
    return value


def utc_time(value: datetime) -> datetime:
    """A pydantic AfterValidator for aware datetimes: representable in UTC, not before 1970."""
    try:
        at = value.astimezone(UTC)
    except (OverflowError, ValueError):
        raise ValueError("not representable in UTC (the year leaves 1 to 9999)") from None
    if at < EARLIEST:
        raise ValueError("before 1970-01-01T00:00:00Z")
    return value
