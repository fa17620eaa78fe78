"""What every provider's check shares: one failure type, a two-way clock window, constant-time compare."""

from __future__ import annotations

import hmac
from collections.abc import Iterable

TOLERANCE_SECONDS = 300.0


class Unverified(Exception):
    """The request could not be proven to come from the source. The reason is for logs only:
    the HTTP answer is the same whatever failed."""


def check_clock(sent_at_seconds: float, now: float, tolerance: float = TOLERANCE_SECONDS) -> None:
    """Both ways: an old timestamp is a replay, a future one is a replay prepared in advance."""
    if not abs(now - sent_at_seconds) <= tolerance:  # also refuses NaN
        raise Unverified("timestamp outside the tolerance")


def digits(value: str | None, what: str) -> int:
    if value is None or not value.isascii() or not value.isdigit() or len(value) > 20:
        raise Unverified(f"{what} missing or not a number")
    return int(value)


def any_equal(expected: Iterable[bytes], given: Iterable[bytes]) -> bool:
    """True when a given value equals an expected one; every pair is compared in constant time."""
    found = False
    given = list(given)
    for e in expected:
        for g in given:
            found |= hmac.compare_digest(e, g)
    return found
