"""Value types every event field (and every HTTP body that becomes an event) must satisfy.

They refuse, at parse time, what PostgreSQL or Python would refuse later inside a handler,
where one bad value would otherwise stop a whole partition:

- `NoNul`: a string without U+0000. PostgreSQL `text` and `jsonb` cannot hold NUL.
- `UtcDatetime`: an aware datetime whose UTC value exists. `9999-12-31T23:59:59-14:00` is
  year 10000 in UTC and `0001-01-01T00:00:00+14:00` is year 0: Python raises on either as
  soon as it is converted or compared across offsets.
- `find_nul`: the path of the first NUL anywhere in a parsed JSON value (keys included),
  for free-form objects such as `properties` and `traits`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime
from pydantic_core import PydanticCustomError

NUL = "\x00"


def refuse_nul(value: str) -> str:
    if NUL in value:
        raise PydanticCustomError(
            "nul_character", "contains U+0000 (NUL), which cannot be stored; remove it"
        )
    return value


def refuse_unrepresentable(value: datetime) -> datetime:
    if 1 < value.year < 9999:  # an offset (under a day) cannot leave years 1 to 9999
        return value
    try:
        value.astimezone(UTC)
    except (OverflowError, ValueError):
        raise PydanticCustomError(
            "datetime_out_of_range",
            "is outside years 1 to 9999 once converted to UTC",
        ) from None
    return value


NoNul = Annotated[str, AfterValidator(refuse_nul)]
UtcDatetime = Annotated[AwareDatetime, AfterValidator(refuse_unrepresentable)]


def find_nul(value: Any, path: str = "") -> str | None:
    """The dotted path of the first string (or key) holding NUL in a JSON value, else None."""
    if isinstance(value, str):
        return (path or "value") if NUL in value else None
    if isinstance(value, Mapping):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if isinstance(key, str) and NUL in key:
                return where.replace(NUL, "\\u0000")
            found = find_nul(item, where)
            if found is not None:
                return found
    elif isinstance(value, list | tuple):
        for n, item in enumerate(value):
            found = find_nul(item, f"{path}.{n}" if path else str(n))
            if found is not None:
                return found
    return None


def refuse_nul_anywhere(value: Any) -> Any:
    """A before-validator body: raise naming the path when any string in `value` holds NUL."""
    where = find_nul(value)
    if where is not None:
        raise PydanticCustomError(
            "nul_character",
            "{where} contains U+0000 (NUL), which cannot be stored; remove it",
            {"where": where},
        )
    return value
