"""The firer: a background loop that breaches due timers, then naps until the next one is due."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime

import structlog

from handoff.db import UnitOfWork
from handoff_sla_watch.adapters import repository
from handoff_sla_watch.alarm import Alarm
from handoff_sla_watch.domain.model import late_by_seconds
from handoff_sla_watch.handlers import claim_breaches
from handoff_sla_watch.metrics import BREACHES, FIRE_LAG, TIMERS_PENDING

log = structlog.get_logger("handoff.sla")

FIRE_BATCH = 500
GAUGE_EVERY_SECONDS = 5.0
# When a due timer is locked elsewhere (another instance, or a stop in flight), do not spin on it.
MIN_NAP_SECONDS = 0.05


async def fire_due(
    uow: Callable[[], UnitOfWork], now: datetime | None = None, limit: int = FIRE_BATCH
) -> int:
    """One pass: breach up to `limit` due timers in one transaction; return how many fired.

    `now` defaults to the database's clock; tests pass one to fire timers early.
    """
    async with uow() as work:
        breached = await claim_breaches(work, now=now, limit=limit)
        await work.commit()
    for t in breached:
        assert t.due_at is not None and t.fired_at is not None
        late = late_by_seconds(t.due_at, t.fired_at)
        BREACHES.labels(t.policy, t.stage).inc()
        FIRE_LAG.observe(late)
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
    return len(breached)


class Firer:
    """Runs `fire_due` for ever: again at once after a full batch, else at the next due time."""

    def __init__(
        self, uow: Callable[[], UnitOfWork], alarm: Alarm, max_sleep_seconds: float
    ) -> None:
        self.uow, self.alarm, self.max_sleep = uow, alarm, max_sleep_seconds
        self._gauge_at = 0.0

    async def run(self) -> None:
        log.info("sla.firer.started", max_sleep_seconds=self.max_sleep)
        while True:
            fired = await fire_due(self.uow)
            await self._refresh_gauge()
            if fired >= FIRE_BATCH:
                continue
            await self.alarm.nap(await self._seconds_to_nap(fired))

    async def _seconds_to_nap(self, fired: int) -> float:
        hint = self.alarm.take_hint()
        async with self.uow() as work:
            seconds = await repository.seconds_until_next_due(work.conn)
        nap = self.max_sleep if seconds is None else min(seconds, self.max_sleep)
        if hint is not None:
            # The consumer rang for a timer it may not have committed yet when we looked.
            nap = min(nap, (hint - datetime.now(hint.tzinfo)).total_seconds())
        return max(nap, 0.0 if fired else MIN_NAP_SECONDS)

    async def _refresh_gauge(self) -> None:
        if time.monotonic() - self._gauge_at < GAUGE_EVERY_SECONDS:
            return
        self._gauge_at = time.monotonic()
        async with self.uow() as work:
            TIMERS_PENDING.set(await repository.count_pending(work.conn))
