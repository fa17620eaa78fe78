"""What a due timer does when the firer reaches it: warn, breach, then walk the escalation chain.

Misfire policy "fire once now": a timer reached late (after downtime) fires every step
it missed once, at once, each marked with how late it is; the one exception is a
warning whose breach is also due, which would only be noise beside the breach.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from handoff_sla_watch.domain.model import Policy, Timer, TimerState


@dataclass(frozen=True, slots=True)
class Fired:
    """One step that fired: a warning, the breach, or escalation `level` (1 is the first)."""

    kind: str  # "warning", "breached" or "escalated"
    scheduled_at: datetime
    fired_at: datetime
    level: int = 0
    action: str | None = None
    target: str | None = None

    @property
    def late_by_seconds(self) -> float:
        return max(0.0, (self.fired_at - self.scheduled_at).total_seconds())


def next_escalation_at(timer: Timer, policy: Policy | None) -> datetime | None:
    """When the next escalation step is due, counted from the due time; None if the chain ended."""
    if policy is None or timer.escalation_level >= len(policy.escalations) or not timer.due_at:
        return None
    step = policy.escalations[timer.escalation_level]
    if not step.after:
        return timer.due_at
    return policy.clock.add(timer.due_at, step.after)


def escalation_target(timer: Timer, action: str, explicit: str | None) -> str | None:
    """Who an escalation goes to: the step's own target, else the rep, manager or pool."""
    if explicit:
        return explicit
    if action == "remind":
        return timer.rep_id
    if action == "escalate_to_manager":
        return timer.manager_id
    return timer.pool


def fire(timer: Timer, policy: Policy | None, now: datetime) -> list[Fired]:
    """Fire every step of `timer` due by `now`, in order; update the timer to the next step.

    `policy` is None when the timer's policy was removed from the configuration: it still
    breaches, but has no escalation chain left to walk.
    """
    fired: list[Fired] = []
    while timer.is_running and timer.next_at is not None and timer.next_at <= now:
        assert timer.due_at is not None
        scheduled = timer.next_at
        if timer.state is TimerState.PENDING and scheduled < timer.due_at:
            if timer.due_at > now:
                fired.append(Fired("warning", scheduled, now))
            timer.next_at = timer.due_at
        elif timer.state is TimerState.PENDING:
            timer.state, timer.fired_at = TimerState.BREACHED, now
            fired.append(Fired("breached", timer.due_at, now))
            timer.next_at = next_escalation_at(timer, policy)
        elif policy is None or timer.escalation_level >= len(policy.escalations):
            timer.next_at = None  # the policy changed under a running chain: nothing left
        else:
            step = policy.escalations[timer.escalation_level]
            timer.escalation_level += 1
            fired.append(
                Fired(
                    "escalated",
                    scheduled,
                    now,
                    level=timer.escalation_level,
                    action=step.action,
                    target=escalation_target(timer, step.action, step.target),
                )
            )
            timer.next_at = next_escalation_at(timer, policy)
    if not timer.is_running:
        timer.next_at = None
    timer.attempts += 1
    return fired
