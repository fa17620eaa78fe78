"""What one try means for the delivery and its endpoint: delivered, due again (when), given up,
and the endpoint's new health. Pure: the caller passes the time and a random number."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from handoff_notify.domain import breaker
from handoff_notify.domain.breaker import BreakerPolicy, Health
from handoff_notify.domain.retry import RetryPolicy, Verdict, retry_after_seconds, verdict_of


@dataclass(frozen=True, slots=True)
class Policies:
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    breaker: BreakerPolicy = field(default_factory=BreakerPolicy)


@dataclass(frozen=True, slots=True)
class Decision:
    status: str  # the delivery's new status: succeeded, pending or failed
    attempts: int
    next_at: datetime | None
    health: Health
    verdict: Verdict
    gave_up: bool = False  # the schedule is spent (or the endpoint is gone): failed for good
    disabled_now: bool = False  # this try disabled the endpoint


def after_try(
    *,
    channel: str,
    attempts_before: int,
    status_code: int | None,
    retry_after: str | None,
    now: datetime,
    health: Health,
    policies: Policies,
    random_unit: float,
) -> Decision:
    attempts = attempts_before + 1
    judged = verdict_of(channel, status_code)
    if judged is Verdict.DELIVERED:
        return Decision("succeeded", attempts, None, breaker.succeeded(health), judged)
    new_health, disabled_now = breaker.failed(
        health, now, policies.breaker, gone=judged is Verdict.GONE
    )
    wait = (
        None
        if judged is Verdict.GONE
        else policies.retry.delay_after(
            attempts, random_unit, retry_after_seconds(retry_after, now)
        )
    )
    if wait is None:
        return Decision("failed", attempts, None, new_health, judged, True, disabled_now)
    return Decision(
        "pending",
        attempts,
        now + timedelta(seconds=wait),
        new_health,
        judged,
        False,
        disabled_now,
    )
