"""When to try a delivery again: the backoff schedule with jitter, Retry-After, and what a
response means (2xx delivered, 410 gone, anything else worth another try)."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime

# After the first try fails: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h; seven tries over about 18 h.
DEFAULT_SCHEDULE: tuple[float, ...] = (5, 300, 1800, 7200, 18000, 36000)
# A receiver may ask for a pause, but not one longer than a day.
MAX_RETRY_AFTER_SECONDS = 86_400.0


class Verdict(enum.Enum):
    DELIVERED = "delivered"
    RETRY = "retry"
    GONE = "gone"  # 410: the receiver says the endpoint no longer exists; disable it


def verdict(status: int | None) -> Verdict:
    """A response status (None: no response at all) judged per Standard Webhooks' practice."""
    if status is not None and 200 <= status < 300:
        return Verdict.DELIVERED
    if status == 410:
        return Verdict.GONE
    # 429 and 5xx ask for another try; other codes (3xx: redirects are not followed; 4xx: a
    # receiver misconfigured for now) are retried too, so a fixed receiver still gets the event.
    return Verdict.RETRY


def verdict_of(channel: str, status: int | None) -> Verdict:
    """An email counts as delivered when the SMTP server took it (250); the rest answer HTTP."""
    if channel == "email":
        return Verdict.DELIVERED if status == 250 else Verdict.RETRY
    return verdict(status)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    schedule: tuple[float, ...] = DEFAULT_SCHEDULE
    jitter: float = 0.2  # each wait is stretched or shrunk by up to this fraction

    @property
    def max_attempts(self) -> int:
        return len(self.schedule) + 1

    def delay_after(
        self, attempts: int, random_unit: float, retry_after: float | None = None
    ) -> float | None:
        """Seconds to wait after `attempts` tries failed; None when the schedule is spent.

        `random_unit` in [0, 1) comes from the caller, so this stays pure and tests choose it.
        """
        if attempts < 1 or attempts > len(self.schedule):
            return None
        base = self.schedule[attempts - 1]
        wait = base * (1 + self.jitter * (2 * random_unit - 1))
        if retry_after is not None:
            wait = max(wait, min(retry_after, MAX_RETRY_AFTER_SECONDS))
        return wait


def retry_after_seconds(header: str | None, now: datetime) -> float | None:
    """The Retry-After header (delay-seconds or an HTTP date) as seconds from `now`."""
    if not header:
        return None
    value = header.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max((when - now).total_seconds(), 0.0)


def schedule_of(texts: Sequence[float]) -> tuple[float, ...]:
    return tuple(float(t) for t in texts)


def later(now: datetime, seconds: float) -> datetime:
    return now + timedelta(seconds=seconds)
