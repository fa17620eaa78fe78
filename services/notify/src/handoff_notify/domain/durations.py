"""Durations as people write them in config/notify.yaml: 5s, 5m, 2h, 1d, 1h30m."""

from __future__ import annotations

import re

_DURATION = re.compile(r"(?:([0-9]+)d)?(?:([0-9]+)h)?(?:([0-9]+)m)?(?:([0-9]+)s)?")


def seconds_of(text: str) -> float:
    """Seconds in `text`; ValueError with a hint for anything else (zero included)."""
    match = _DURATION.fullmatch(text.strip())
    if not text.strip() or match is None:
        raise ValueError(
            f"{text!r} is not a duration; write whole numbers with d, h, m, s in that order, "
            "like 5s, 5m, 2h, 1d or 1h30m"
        )
    days, hours, minutes, secs = (int(p) if p else 0 for p in match.groups())
    total = float(((days * 24 + hours) * 60 + minutes) * 60 + secs)
    if total <= 0:
        raise ValueError(f"{text!r} is zero; a positive duration is needed")
    return total
