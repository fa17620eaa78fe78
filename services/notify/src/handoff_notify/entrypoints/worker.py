"""The delivery worker: claims due deliveries, tries each with its endpoint's concurrency
limit, records the outcome, and naps until the next one is due or the consumer rings.

A receiver that hangs holds only its own endpoint's slots: the claim skips endpoints with
no free slot, so every other endpoint's deliveries go on. Several instances share the
queue safely (see adapters/queue.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
import structlog

from handoff_notify.adapters import queue
from handoff_notify.adapters.metrics import DELIVERY_SECONDS, IN_FLIGHT
from handoff_notify.adapters.queue import Claimed
from handoff_notify.adapters.senders import Senders
from handoff_notify.domain.attempts import Policies
from handoff_notify.service_layer.delivering import (
    plain_success,
    record_delivered,
    record_try,
)

log = structlog.get_logger("handoff.notify")
MIN_NAP_SECONDS = 0.05


def wall_clock() -> datetime:
    return datetime.now(UTC)


class Bell:
    """Rung by the consumer after a commit that queued deliveries, and by a finished try."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def ring(self) -> None:
        self._event.set()

    async def nap(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._event.wait(), max(seconds, 0.0))
        self._event.clear()


@dataclass
class WorkerLimits:
    max_in_flight: int = 200
    per_endpoint: int = 4
    lease_seconds: float = 60.0
    max_sleep_seconds: float = 1.0


class Worker:
    def __init__(
        self,
        dsn: str,
        senders: Senders,
        policies: Policies,
        limits: WorkerLimits,
        bell: Bell | None = None,
        clock: Callable[[], datetime] = wall_clock,
        rng: random.Random | None = None,
    ) -> None:
        self.dsn, self.senders, self.policies, self.limits = dsn, senders, policies, limits
        self.bell = bell or Bell()
        self.clock = clock
        self.rng = rng or random.Random()
        self.in_flight: Counter[str] = Counter()
        self.tasks: set[asyncio.Task[None]] = set()
        self.pool: asyncpg.Pool | None = None
        self.delivered: list[tuple[Claimed, int | None, datetime]] = []
        self.flushing: asyncio.Task[None] | None = None
        self._endpoints_count, self._endpoints_read_at = 0, float("-inf")

    async def start(self) -> None:
        self.pool = await asyncpg.create_pool(self.dsn, min_size=1, max_size=4)

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        if self.pool is not None:
            with contextlib.suppress(Exception):
                await self.flush_deliveries()
            await self.pool.close()
            self.pool = None

    async def run(self) -> None:
        """Until cancelled; a database error ends the run and the caller restarts it."""
        await self.start()
        try:
            log.info("notify.worker.started", max_in_flight=self.limits.max_in_flight)
            while True:
                started = await self.claim_and_start()
                await self.bell.nap(await self._seconds_to_nap(started))
        finally:
            await self.stop()

    async def claim_and_start(self) -> int:
        """One claim: start as many due deliveries as there are free slots; return how many."""
        assert self.pool is not None
        free = self.limits.max_in_flight - len(self.tasks)
        if free <= 0:
            return 0
        busy = [s for s, n in self.in_flight.items() if n >= self.limits.per_endpoint]
        now = self.clock()
        async with self.pool.acquire() as conn:
            # No more than the endpoints could start: claiming a backlog of one endpoint only
            # to give most of it back would write twice for nothing.
            endpoints = await self._endpoints(conn)
            limit = min(free, max(1, endpoints - len(busy)) * self.limits.per_endpoint)
            claimed = await queue.claim(conn, now, limit, busy, self.limits.lease_seconds)
            start: list[Claimed] = []
            back: list[str] = []
            taken: Counter[str] = Counter()
            for d in claimed:
                if (
                    self.in_flight[d.subscription_id] + taken[d.subscription_id]
                    < self.limits.per_endpoint
                ):
                    taken[d.subscription_id] += 1
                    start.append(d)
                else:
                    back.append(d.delivery_id)
            await queue.give_back(conn, back, now)
        for d in start:
            self.in_flight[d.subscription_id] += 1
            task = asyncio.create_task(self._try(d))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
        IN_FLIGHT.set(len(self.tasks))
        return len(start)

    async def drain(self) -> int:
        """Claim and try until nothing is due now, waiting for every try; for tests and tools."""
        total = 0
        while True:
            started = await self.claim_and_start()
            if self.tasks:
                await asyncio.gather(*list(self.tasks), return_exceptions=True)
            if self.flushing is not None:  # a batch being written: done when drain returns
                await asyncio.gather(self.flushing, return_exceptions=True)
            await self.flush_deliveries()
            if not started:
                return total
            total += started

    async def _endpoints(self, conn: asyncpg.Connection) -> int:
        now = asyncio.get_running_loop().time()
        if now - self._endpoints_read_at > 1.0:
            self._endpoints_count = await queue.count_enabled(conn)
            self._endpoints_read_at = now
        return self._endpoints_count

    async def flush_deliveries(self) -> None:
        """Write every plain success gathered so far, batch after batch, until none is left."""
        assert self.pool is not None
        while self.delivered:
            batch, self.delivered = self.delivered, []
            try:
                async with self.pool.acquire() as conn:
                    await queue.save_delivered(conn, batch)
                record_delivered(batch)
            except Exception as exc:  # the database went away: the leases run out, tried again
                log.warning(
                    "notify.delivery.unrecorded", count=len(batch), error=type(exc).__name__
                )

    async def _try(self, d: Claimed) -> None:
        assert self.pool is not None
        try:
            began = asyncio.get_running_loop().time()
            attempt = await self.senders.send(d.channel, d.url, d.secrets, d.event_id, d.body)
            DELIVERY_SECONDS.labels(d.channel).observe(asyncio.get_running_loop().time() - began)
            if plain_success(d, attempt):
                # The common case is written in batches: one statement for all that finished
                # while the previous batch was being written (a group commit).
                self.delivered.append((d, attempt.status, self.clock()))
                if self.flushing is None or self.flushing.done():
                    self.flushing = asyncio.create_task(self.flush_deliveries())
                return
            async with self.pool.acquire() as conn:
                await record_try(conn, d, attempt, self.clock(), self.policies, self.rng.random())
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the database went away: the lease runs out, it is tried again
            log.warning(
                "notify.delivery.unrecorded", delivery_id=d.delivery_id, error=type(exc).__name__
            )
        finally:
            self.in_flight[d.subscription_id] -= 1
            if self.in_flight[d.subscription_id] <= 0:
                del self.in_flight[d.subscription_id]
            IN_FLIGHT.set(len(self.tasks) - 1)
            self.bell.ring()  # a slot is free: look again

    async def _seconds_to_nap(self, started: int) -> float:
        if started:
            return 0.0
        assert self.pool is not None
        async with self.pool.acquire() as conn:
            seconds = await queue.seconds_until_next_due(conn, self.clock())
        nap = (
            self.limits.max_sleep_seconds
            if seconds is None
            else min(seconds, self.limits.max_sleep_seconds)
        )
        return max(nap, MIN_NAP_SECONDS)
