"""The firer: a background loop that fires due timers, then naps until the next one is due,
or until its `Alarm` rings (the consumer armed an earlier timer). It is the boundary of the
firing path: one transaction per batch on a raw asyncpg connection, committed here.

Every sla-watch process runs one. `python -m handoff_sla_watch.entrypoints.firer` runs
a firer alone (no HTTP, no consumer), to add firing capacity or to test crash safety.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta

import asyncpg
import structlog

from handoff.db import asyncpg_dsn
from handoff_sla_watch.adapters.metrics import TIMERS_PENDING
from handoff_sla_watch.adapters.timers import DueTimers
from handoff_sla_watch.service_layer.firing import Firing

log = structlog.get_logger("handoff.sla")

FIRE_BATCH = 1000
# Connections that drain a backlog together: while one waits on PostgreSQL, another's
# batch is built in Python, and both cores write. Safe as several instances are: SKIP LOCKED.
FIRE_WORKERS = 2
GAUGE_EVERY_SECONDS = 15.0
# When a due timer is locked elsewhere (another instance, or a stop in flight), do not spin on it.
MIN_NAP_SECONDS = 0.05
NO_POLICIES = Firing(())


async def fire_due(
    conn: asyncpg.Connection,
    firing: Firing = NO_POLICIES,
    now: datetime | None = None,
    limit: int = FIRE_BATCH,
) -> int:
    """One pass: fire up to `limit` due timers in one transaction; return how many.

    `now` defaults to the database's clock; tests pass one to fire timers early.
    """
    async with conn.transaction():
        done = await firing.fire_batch(DueTimers(conn), now=now, limit=limit)
    firing.report(done)  # after the commit: a rolled-back pass counts nothing
    return len(done)


class Alarm:
    """Shared by the consumer (which rings) and the firer (which naps); one per process.

    The consumer rings after its transaction commits, so the firer sees the new timer
    when it wakes. A ring is also kept as a hint, for a ring that lands while the firer
    is between looking for the next due time and starting its nap.
    """

    def __init__(self) -> None:
        self._rung = asyncio.Event()
        self._hint: datetime | None = None
        self._napping_until: datetime | None = None  # None while the firer is awake

    def ring_by(self, due_at: datetime) -> None:
        """Ask the firer to be awake at `due_at`."""
        if self._hint is None or due_at < self._hint:
            self._hint = due_at
        if self._napping_until is None or due_at < self._napping_until:
            self._rung.set()

    def take_hint(self) -> datetime | None:
        """The earliest due time rung since the last call; clears the ring."""
        hint, self._hint = self._hint, None
        self._rung.clear()
        return hint

    async def nap(self, seconds: float) -> None:
        """Sleep `seconds`, or less if rung for an earlier time meanwhile or before the nap."""
        seconds = max(0.0, seconds)
        self._napping_until = datetime.now(UTC) + timedelta(seconds=seconds)
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._rung.wait(), seconds)
        finally:
            self._napping_until = None


class Firer:
    """Runs `fire_due` for ever: again at once after a full batch, else at the next due time."""

    def __init__(
        self,
        dsn: str,
        firing: Firing,
        alarm: Alarm,
        max_sleep_seconds: float,
        batch: int = FIRE_BATCH,
        workers: int = FIRE_WORKERS,
    ) -> None:
        self.dsn, self.firing, self.alarm = dsn, firing, alarm
        self.max_sleep, self.batch, self.workers = max_sleep_seconds, batch, workers

    async def run(self) -> None:
        """Fire until cancelled on one connection of its own; a database error ends the run
        (the caller restarts it, with a new connection)."""
        conns = [await asyncpg.connect(self.dsn)]
        # Counting a million pending rows takes long enough to delay due timers: not in this loop.
        gauge = asyncio.create_task(self._refresh_gauge())
        try:
            log.info("sla.firer.started", max_sleep_seconds=self.max_sleep)
            while True:
                fired = await fire_due(conns[0], self.firing, limit=self.batch)
                if fired >= self.batch:
                    # A backlog (a burst, or catching up after downtime): drain it on
                    # every connection at once, until a batch comes back short.
                    while len(conns) < self.workers:
                        conns.append(await asyncpg.connect(self.dsn))
                    fired = max(await asyncio.gather(*(self._drain(c) for c in conns)))
                await self.alarm.nap(await self._seconds_to_nap(conns[0], fired))
        finally:
            gauge.cancel()
            for conn in conns:
                with contextlib.suppress(Exception):
                    await asyncio.shield(conn.close(timeout=2))

    async def _drain(self, conn: asyncpg.Connection) -> int:
        """Fire full batches on `conn` until one comes back short; return its size."""
        while (fired := await fire_due(conn, self.firing, limit=self.batch)) >= self.batch:
            pass
        return fired

    async def _seconds_to_nap(self, conn: asyncpg.Connection, fired: int) -> float:
        hint = self.alarm.take_hint()
        seconds = await DueTimers(conn).seconds_until_next_due()
        nap = self.max_sleep if seconds is None else min(seconds, self.max_sleep)
        if hint is not None:
            # Rung after a commit that we may have raced with while looking.
            nap = min(nap, (hint - datetime.now(hint.tzinfo)).total_seconds())
        return max(nap, 0.0 if fired else MIN_NAP_SECONDS)

    async def _refresh_gauge(self) -> None:
        """Set the pending-timers gauge every GAUGE_EVERY_SECONDS, on a connection of its own."""
        while True:
            try:
                conn = await asyncpg.connect(self.dsn)
                try:
                    due = DueTimers(conn)
                    while True:
                        TIMERS_PENDING.set(await due.count_pending())
                        await asyncio.sleep(GAUGE_EVERY_SECONDS)
                finally:
                    with contextlib.suppress(Exception):
                        await asyncio.shield(conn.close(timeout=2))
            except Exception as exc:  # the database went away: try again later
                log.warning("sla.gauge.error", error=str(exc))
                await asyncio.sleep(GAUGE_EVERY_SECONDS)


async def _run_alone() -> None:
    from handoff.logs import configure_logging
    from handoff.settings import load_settings
    from handoff_sla_watch.config import load_policies
    from handoff_sla_watch.settings import SERVICE, SlaSettings

    settings = load_settings(SlaSettings)
    configure_logging(settings.log_format, settings.log_level, service=f"{SERVICE.name}-firer")
    policies = load_policies(settings.policies_path)
    firer = Firer(
        asyncpg_dsn(settings.database_url),
        Firing(policies),
        Alarm(),
        settings.max_sleep_seconds,
        settings.fire_batch,
        settings.fire_workers,
    )
    while True:
        try:
            await firer.run()
        except Exception as exc:  # the database went away: keep trying, as the service does
            log.warning("sla.firer.error", error=str(exc), retry_in=1.0)
            await asyncio.sleep(1.0)


def main() -> None:
    """`python -m handoff_sla_watch.entrypoints.firer`: a firer alone, until interrupted."""
    import sys

    from handoff.config_file import ConfigError

    try:
        asyncio.run(_run_alone())
    except ConfigError as exc:
        print(f"invalid configuration: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
