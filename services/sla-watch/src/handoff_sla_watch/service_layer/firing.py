"""Firing due timers: claim a batch, let the domain fire each, write back and outbox the steps.

The firer loop (entrypoints/firer.py) owns the transaction and commits it; this module
never sees a connection, only the due timers' repository.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime

import structlog

from handoff.events import sla as ev
from handoff_sla_watch.adapters import events_out
from handoff_sla_watch.adapters.metrics import BREACHES, ESCALATIONS, FIRE_LAG, WARNINGS
from handoff_sla_watch.adapters.timers import DueTimers
from handoff_sla_watch.domain.firing import Fired, fire
from handoff_sla_watch.domain.model import Policy, Timer

log = structlog.get_logger("handoff.sla")

FiredBatch = list[tuple[Timer, list[Fired]]]  # each claimed timer with the steps it fired


class Firing:
    """FiredBatch due timers with their policies (by name; a removed policy still breaches)."""

    def __init__(self, policies: Sequence[Policy]) -> None:
        self.by_name = {p.name: p for p in policies}

    async def fire_batch(self, due: DueTimers, *, now: datetime | None, limit: int) -> FiredBatch:
        """Fire up to `limit` due timers and outbox their events, in the caller's transaction."""
        timers, at = await due.claim(now, limit)
        if not timers:
            return []
        assert at is not None
        by_name = self.by_name
        done = [(t, fire(t, by_name.get(t.policy), at)) for t in timers]
        steps = [(t, step) for t, fired in done for step in fired]
        await due.save_fired(
            timers,
            ev.TOPIC,
            [t.lead_id.encode() for t, _ in steps],
            [events_out.fired(t, step) for t, step in steps],
        )
        return done

    def report(self, done: FiredBatch) -> None:
        """Metrics and logs of a committed batch (a rolled-back one counts nothing).

        Counters are added up per batch and incremented once per label set: a burst of a
        hundred thousand breaches spent a quarter of the firer's Python time looking up the
        same labels and incrementing them one by one (bench/README.md, sla-watch).
        """
        breaches: Counter[tuple[str, str]] = Counter()
        warnings: Counter[tuple[str, str]] = Counter()
        escalations: Counter[tuple[str, str, str]] = Counter()
        observe = FIRE_LAG.observe
        for t, steps in done:
            for step in steps:
                late = step.late_by_seconds
                observe(late)
                if step.kind == "breached":
                    breaches[t.policy, t.stage] += 1
                    log.warning(
                        "sla.breached",
                        lead_id=t.lead_id,
                        handoff_id=t.handoff_id,
                        timer_id=t.timer_id,
                        policy=t.policy,
                        stage=t.stage,
                        rep_id=t.rep_id,
                        late_by_seconds=round(late, 3),
                    )
                elif step.kind == "warning":
                    warnings[t.policy, t.stage] += 1
                else:
                    escalations[t.policy, t.stage, step.action or ""] += 1
                    log.warning(
                        "sla.escalated",
                        lead_id=t.lead_id,
                        handoff_id=t.handoff_id,
                        timer_id=t.timer_id,
                        level=step.level,
                        action=step.action,
                        target=step.target,
                    )
        for (policy, stage), n in breaches.items():
            BREACHES.labels(policy, stage).inc(n)
        for (policy, stage), n in warnings.items():
            WARNINGS.labels(policy, stage).inc(n)
        for (policy, stage, action), n in escalations.items():
            ESCALATIONS.labels(policy, stage, action).inc(n)
