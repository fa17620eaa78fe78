"""The firer: a background loop that fires due timers, then naps until the next one is due.

Every sla-watch process runs one. `python -m handoff_sla_watch.entrypoints.firer` runs
a firer alone (no HTTP, no consumer), to add firing capacity or to test crash safety.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import datetime

import structlog

from handoff.db import UnitOfWork, UnitOfWorkFactory, create_engine
from handoff_sla_watch.adapters import repository
from handoff_sla_watch.alarm import Alarm
from handoff_sla_watch.handlers import Firing
from handoff_sla_watch.metrics import TIMERS_PENDING

log = structlog.get_logger("handoff.sla")

FIRE_BATCH = 1000
GAUGE_EVERY_SECONDS = 15.0
# When a due timer is locked elsewhere (another instance, or a stop in flight), do not spin on it.
MIN_NAP_SECONDS = 0.05
NO_POLICIES = Firing(())


async def fire_due(
    uow: Callable[[], UnitOfWork],
    firing: Firing = NO_POLICIES,
    now: datetime | None = None,
    limit: int = FIRE_BATCH,
) -> int:
    """One pass: fire up to `limit` due timers in one transaction; return how many.

    `now` defaults to the database's clock; tests pass one to fire timers early.
    """
    async with uow() as work:
        done = await firing.claim(work, now=now, limit=limit)
        await work.commit()
    return len(done)


class Firer:
    """Runs `fire_due` for ever: again at once after a full batch, else at the next due time."""

    def __init__(
        self,
        uow: Callable[[], UnitOfWork],
        firing: Firing,
        alarm: Alarm,
        max_sleep_seconds: float,
        batch: int = FIRE_BATCH,
    ) -> None:
        self.uow, self.firing, self.alarm = uow, firing, alarm
        self.max_sleep, self.batch = max_sleep_seconds, batch
        self._gauge_at = 0.0

    async def run(self) -> None:
        log.info("sla.firer.started", max_sleep_seconds=self.max_sleep)
        while True:
            fired = await fire_due(self.uow, self.firing, limit=self.batch)
            await self._refresh_gauge()
            if fired >= self.batch:
                continue
            await self.alarm.nap(await self._seconds_to_nap(fired))

    async def _seconds_to_nap(self, fired: int) -> float:
        hint = self.alarm.take_hint()
        async with self.uow() as work:
            seconds = await repository.seconds_until_next_due(work.conn)
        nap = self.max_sleep if seconds is None else min(seconds, self.max_sleep)
        if hint is not None:
            # Rung after a commit that we may have raced with while looking.
            nap = min(nap, (hint - datetime.now(hint.tzinfo)).total_seconds())
        return max(nap, 0.0 if fired else MIN_NAP_SECONDS)

    async def _refresh_gauge(self) -> None:
        if time.monotonic() - self._gauge_at < GAUGE_EVERY_SECONDS:
            return
        self._gauge_at = time.monotonic()
        async with self.uow() as work:
            TIMERS_PENDING.set(await repository.count_pending(work.conn))


async def _run_alone() -> None:
    from handoff.logs import configure_logging
    from handoff.settings import load_settings
    from handoff_sla_watch.config import load_policies
    from handoff_sla_watch.service import SERVICE
    from handoff_sla_watch.settings import SlaSettings

    settings = load_settings(SlaSettings)
    configure_logging(settings.log_format, settings.log_level, service=f"{SERVICE.name}-firer")
    policies = load_policies(settings.policies_path)
    engine = create_engine(settings.database_url, pool_size=2)
    try:
        firer = Firer(
            UnitOfWorkFactory(engine),
            Firing(policies),
            Alarm(),
            settings.max_sleep_seconds,
            settings.fire_batch,
        )
        while True:
            try:
                await firer.run()
            except Exception as exc:  # the database went away: keep trying, as the service does
                log.warning("sla.firer.error", error=str(exc), retry_in=1.0)
                await asyncio.sleep(1.0)
    finally:
        await engine.dispose()


if __name__ == "__main__":
    import sys

    from handoff.config_file import ConfigError

    try:
        asyncio.run(_run_alone())
    except ConfigError as exc:
        print(f"invalid configuration: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        pass
