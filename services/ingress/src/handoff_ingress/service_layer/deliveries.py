"""Deliveries claimed once per (source, delivery id), published, then committed: group commit.

Concurrent requests are gathered into one transaction: claim their delivery ids, publish the
signals of the new ones, wait for the broker's acknowledgement, and only then commit. A publish
failure rolls the claims back, so the sender's retry is not taken for a duplicate; another
transaction claiming the same id (another lane or instance) waits on the row lock until we
commit or roll back, so 50 copies at once still publish once. The signals' CloudEvent ids are
stable, so the consumer's inbox also drops a signal published again after a commit that failed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field

import asyncpg
import structlog
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from handoff.http.limits import retry_after
from handoff.http.problem import Problem
from handoff.messaging.producer import Message
from handoff_ingress.adapters import deliveries
from handoff_ingress.adapters.deliveries import DeliveryConnection, DeliveryKey

log = structlog.get_logger("handoff_ingress.deliveries")

Publish = Callable[[Sequence[Message]], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Outcome:
    accepted: int  # signals this request put on the topic
    duplicate: bool  # every delivery id had been seen before: no effect


@dataclass(slots=True)
class _Claim:
    source: str
    signals: Mapping[str, Sequence[Message]]  # delivery id -> its signal records
    future: asyncio.Future[Outcome]
    owned: int = 0
    new: bool = False
    keys: list[DeliveryKey] = field(default_factory=list)


def _database_down() -> Problem:
    return Problem(
        503,
        "The database did not answer; nothing was accepted. Retry later.",
        headers=retry_after(5),
    )


class DeliveryDesk:
    """Takes claims from many concurrent requests and settles them in batches, a few at once."""

    def __init__(
        self,
        engine: AsyncEngine,
        publish: Publish,
        *,
        retention_seconds: float = 7 * 86400,
        max_batch: int = 2000,
        lanes: int = 4,
        lock_timeout_ms: int = 10_000,
    ) -> None:
        self.engine, self.publish = engine, publish
        self.retention_seconds, self.max_batch = retention_seconds, max_batch
        self.lanes, self.lock_timeout_ms = lanes, lock_timeout_ms
        self._queue: asyncio.Queue[_Claim] = asyncio.Queue()
        self._pruned_at = 0.0

    async def record(self, source: str, signals: Mapping[str, Sequence[Message]]) -> Outcome:
        """Settle one request's deliveries; raises Problem(503) when nothing could be stored."""
        claim = _Claim(source, signals, asyncio.get_running_loop().create_future())
        claim.keys = [(source, d) for d in signals]
        self._queue.put_nowait(claim)
        return await claim.future

    async def run(self) -> None:
        await asyncio.gather(*(self._lane(n) for n in range(self.lanes)))

    async def _lane(self, n: int) -> None:
        lane = DeliveryConnection(self.engine, self.lock_timeout_ms)
        try:
            while True:
                batch = [await self._queue.get()]
                while len(batch) < self.max_batch and not self._queue.empty():
                    batch.append(self._queue.get_nowait())
                await self._settle(batch, lane)
                if n == 0 and time.monotonic() - self._pruned_at > 600:
                    await self._prune()
        finally:
            await lane.drop()

    async def _settle(self, batch: list[_Claim], lane: DeliveryConnection) -> None:
        # Sorted, so two lanes (or instances) lock shared ids in the same order: no deadlock.
        keys = sorted({k for c in batch for k in c.keys})
        new: set[DeliveryKey] | None = None
        try:
            conn = await lane.connection()
            async with conn.transaction():
                new = await deliveries.claim(conn, keys)
                records = self._assign(batch, new)
                if records:
                    await self.publish(records)  # the transaction stays open until the broker acks
        except Problem as exc:
            self._fail(batch, new, exc)
            return
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as exc:
            log.warning("ingress.deliveries.database_error", error=type(exc).__name__)
            await lane.drop(broken=True)
            self._fail(batch, new, _database_down())
            return
        except Exception as exc:  # never leave a request waiting forever
            log.exception("ingress.deliveries.failed")
            self._fail(batch, new, exc)
            return
        for claim in batch:
            if not claim.future.done():
                claim.future.set_result(Outcome(claim.owned, duplicate=not claim.new))

    @staticmethod
    def _assign(batch: list[_Claim], new: set[DeliveryKey]) -> list[Message]:
        """Each new id's signals, published once, credited to the first request that holds it."""
        owner: set[DeliveryKey] = set()
        records: list[Message] = []
        for claim in batch:
            for key in claim.keys:
                if key in new and key not in owner:
                    owner.add(key)
                    claim.new = True
                    claim.owned += len(claim.signals[key[1]])
                    records.extend(claim.signals[key[1]])
        return records

    @staticmethod
    def _fail(batch: list[_Claim], new: set[DeliveryKey] | None, error: BaseException) -> None:
        for claim in batch:
            if claim.future.done():
                continue
            if new is not None and claim.keys and not any(k in new for k in claim.keys):
                # Every id was committed by an earlier request: a true duplicate, say so.
                claim.future.set_result(Outcome(0, duplicate=True))
            else:
                claim.future.set_exception(error)

    async def _prune(self) -> None:
        self._pruned_at = time.monotonic()
        try:
            rows = await deliveries.prune(self.engine, self.retention_seconds)
            if rows:
                log.info("ingress.deliveries.pruned", rows=rows)
        except (SQLAlchemyError, OSError) as exc:
            log.warning("ingress.deliveries.prune_failed", error=type(exc).__name__)
