"""The queue sweeper: a background loop that gives waiting leads to reps who became available."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import structlog

from handoff.db import UnitOfWork
from handoff_routing.service_layer.handlers import sweep_queue
from handoff_routing.service_layer.handoff_batch import Routing

log = structlog.get_logger("handoff.routing")


class QueueSweeper:
    """Looks at the pools' queues every few seconds, and at once when woken: reps come back
    from leave or into working hours with no event to say so."""

    def __init__(
        self, uow_factory: Callable[[], UnitOfWork], routing: Routing, every: float
    ) -> None:
        self.uow_factory, self.routing, self.every = uow_factory, routing, every
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.every)
            self._wake.clear()
            async with self.uow_factory() as uow:
                assigned = await sweep_queue(uow, self.routing)
                await uow.commit()
            if assigned:
                log.info("routing.queue.assigned", count=assigned)
