"""An endpoint's health: the circuit breaker that stops hammering a failing receiver, and the
rule that disables an endpoint which has failed for too long (or answered 410 Gone)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    failures_to_open: int = 5  # consecutive failures that open the breaker
    open_seconds: float = 60.0  # how long it stays open before one more try
    disable_after_seconds: float = 5 * 86_400.0  # failing without a success this long: disabled


@dataclass(frozen=True, slots=True)
class Health:
    consecutive_failures: int = 0
    failing_since: datetime | None = None
    open_until: datetime | None = None
    disabled_at: datetime | None = None
    disabled_reason: str | None = None

    @property
    def disabled(self) -> bool:
        return self.disabled_at is not None

    def allows(self, now: datetime) -> bool:
        """May a delivery be tried now? Not when disabled, nor while the breaker is open."""
        if self.disabled:
            return False
        return self.open_until is None or now >= self.open_until


def succeeded(health: Health) -> Health:
    """One success closes the breaker and forgets the failures."""
    if health.consecutive_failures == 0 and health.open_until is None:
        return health
    return replace(health, consecutive_failures=0, failing_since=None, open_until=None)


def failed(
    health: Health, now: datetime, policy: BreakerPolicy, *, gone: bool = False
) -> tuple[Health, bool]:
    """The health after a failed try, and whether this failure disabled the endpoint."""
    if health.disabled:
        return health, False
    if gone:
        return replace(
            health, disabled_at=now, disabled_reason="the receiver answered 410 Gone"
        ), True
    since = health.failing_since or now
    failures = health.consecutive_failures + 1
    if (now - since).total_seconds() >= policy.disable_after_seconds:
        hours = policy.disable_after_seconds / 3600
        reason = f"failing without a success for {hours:g} hours"
        return replace(
            health,
            consecutive_failures=failures,
            failing_since=since,
            disabled_at=now,
            disabled_reason=reason,
        ), True
    open_until = health.open_until
    if failures >= policy.failures_to_open:
        open_until = now + timedelta(seconds=policy.open_seconds)
    return replace(
        health, consecutive_failures=failures, failing_since=since, open_until=open_until
    ), False


def enabled_again(health: Health) -> Health:
    """An operator re-enabled the endpoint: start afresh."""
    return Health()
