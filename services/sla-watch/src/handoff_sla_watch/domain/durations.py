"""Policy durations as people write them: 20s, 15m, 24h, 2d, 1h30m."""

from __future__ import annotations

import re
from datetime import timedelta

# Units largest first, each at most once: "1h30m" reads unambiguously, "30m1h" is a typo.
_DURATION = re.compile(r"(?:([0-9]+)d)?(?:([0-9]+)h)?(?:([0-9]+)m)?(?:([0-9]+)s)?")
_HINT = "write whole numbers with d, h, m, s in that order, like 20s, 15m, 24h, 2d or 1h30m"


def parse_duration(text: str) -> timedelta:
    """The duration `text` names; ValueError with a hint for anything else (zero included)."""
    match = _DURATION.fullmatch(text)
    if not text or match is None:
        raise ValueError(f"{text!r} is not a duration; {_HINT}")
    days, hours, minutes, seconds = (int(part) if part else 0 for part in match.groups())
    try:
        duration = timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
    except OverflowError:
        raise ValueError(f"{text!r} is too long a duration") from None
    if duration <= timedelta(0):
        raise ValueError(f"{text!r} is zero; an SLA needs a positive duration")
    return duration
