"""Durations as people write them, one grammar in every config file and setting.

"90s", "15m", "1h30m", "1.5h", "2d", "1w": numbers (whole or decimal) each followed by a unit,
units among w, d, h, m, s from largest to smallest, each at most once. A bare number is seconds.
Only positive durations are accepted: no policy, retry or window means anything at zero.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator

UNITS = {"w": 604_800, "d": 86_400, "h": 3_600, "m": 60, "s": 1}
_NUMBER = r"(\d+(?:\.\d+)?)"
_GRAMMAR = re.compile("".join(f"(?:{_NUMBER}{unit})?" for unit in UNITS))
HINT = (
    'write numbers with units w, d, h, m, s from largest to smallest, like "90s", "15m", '
    '"1h30m", "1.5h", "2d" or "1w"'
)


def parse_duration(value: str | int | float) -> timedelta:
    """The duration `value` names; a ValueError with the hint for anything else, zero included."""
    if isinstance(value, bool):  # a YAML `yes` is no duration
        raise ValueError(f"{value!r} is not a duration; {HINT}")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        text = value.strip().replace(" ", "")
        found = _GRAMMAR.fullmatch(text) if text else None
        if re.fullmatch(_NUMBER, text):
            return parse_duration(float(text))
        if found is None or not any(found.groups()):
            raise ValueError(f"{value!r} is not a duration; {HINT}")
        seconds = sum(
            float(amount) * factor
            for amount, factor in zip(found.groups(), UNITS.values(), strict=True)
            if amount
        )
    if not seconds > 0:  # also refuses NaN
        raise ValueError(f"{value!r} is not a positive duration; {HINT}")
    try:
        return timedelta(seconds=seconds)
    except OverflowError:
        raise ValueError(f"{value!r} is too long a duration") from None


def _duration(value: Any) -> Any:
    # Strings and numbers follow the grammar; a timedelta (set in code) passes as it is.
    return value if isinstance(value, timedelta) else parse_duration(value)


def _duration_seconds(value: Any) -> Any:
    return _duration(value).total_seconds()


def _setting_duration(value: Any) -> Any:
    # An environment value: the grammar first, then pydantic's own forms (ISO 8601 "P14D").
    if isinstance(value, str):
        try:
            return parse_duration(value)
        except ValueError:
            return value
    return value


# A duration field in a YAML config: "1h30m" or seconds, into a timedelta.
Duration = Annotated[timedelta, BeforeValidator(_duration)]
# The same, for code that works in float seconds.
DurationSeconds = Annotated[float, BeforeValidator(_duration_seconds)]
# A HANDOFF_ setting: the grammar, and ISO 8601 durations as pydantic reads them.
SettingDuration = Annotated[timedelta, BeforeValidator(_setting_duration)]
