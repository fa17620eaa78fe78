"""Deliveries claimed once per (source, delivery id), published, then committed: group commit.

Concurrent requests are gathered into one transaction: insert their delivery ids (ON CONFLICT DO
NOTHING RETURNING), publish the signals of the new ones, wait for the broker's acknowledgement,
and only then commit. A publish failure rolls the claims back, so the sender's retry is not taken
for a duplicate; another transaction inserting the same id (another lane or instance) waits on the row lock until
we commit or roll back, so 50 copies at once still publish once. The signals' CloudEvent ids are stable, so the
consumer's inbox also drops a signal published again after a commit that failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog
from sqlalchemy import (
    Column,
    DateTime,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    text,
)
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from handoff.http.limits import retry_after
from handoff.http.problem import Problem

SCHEMA = "scoring"
log = structlog.get_logger("handoff_scoring.ingress")

webhook_deliveries = Table(
    "webhook_deliveries",
    MetaData(schema=SCHEMA),
    Column("source", Text, nullable=False),
    Column("delivery_id", Text, nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
    PrimaryKeyConstraint("source", "delivery_id"),
)

_CLAIM = text(
    f"INSERT INTO {SCHEMA}.webhook_deliveries (source, delivery_id) "
    "SELECT * FROM unnest(CAST(:sources AS text[]), CAST(:ids AS text[])) "
    "ON CONFLICT DO NOTHING RETURNING source, delivery_id"
)
_PRUNE = text(
    f"DELETE FROM {SCHEMA}.webhook_deliveries "
    "WHERE received_at < now() - make_interval(secs => :seconds)"
)

Publish = Callable[[Sequence[Any]], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Outcome:
    accepted: int  # signals this request put on the topic
    duplicate: bool  # every delivery id had been seen before: no effect


@dataclass(slots=True)
class _Claim:
    source: str
    signals: Mapping[str, Sequence[Any]]  # delivery id -> its signals (CloudEvents)
    future: asyncio.Future[Outcome]
    owned: int = 0
    new: bool = False
    keys: list[tuple[str, str]] = field(default_factory=list)


def _database_down() -> Problem:
    return Problem(
        503,
        "The database did not answer; nothing was accepted. Retry later.",
        headers=retry_after(5),
    )


class _Lane:
    """One worker's own connection: a pool checkout per batch costs more than the batch."""

    def __init__(self, engine: AsyncEngine, lock_timeout_ms: int) -> None:
        self.engine, self.lock_timeout_ms = engine, lock_timeout_ms
        self.conn: AsyncConnection | None = None

    async def connection(self) -> AsyncConnection:
        if self.conn is None or self.conn.closed or self.conn.invalidated:
            conn = await self.engine.connect()
            try:
                # No fsync wait on commit: a claim lost in a crash only means a retry is published
                # again with the same CloudEvent ids, which the consumer's inbox drops. The lock
                # timeout bounds the wait for another instance's claim of the same id.
                await conn.execute(text("SET synchronous_commit = off"))
                await conn.execute(text(f"SET lock_timeout = {int(self.lock_timeout_ms)}"))
                await conn.commit()
            except BaseException:
                await conn.close()
                raise
            self.conn = conn
        return self.conn

    async def drop(self) -> None:
        conn, self.conn = self.conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close()


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

    async def record(self, source: str, signals: Mapping[str, Sequence[Any]]) -> Outcome:
        """Settle one request's deliveries; raises Problem(503) when nothing could be stored."""
        claim = _Claim(source, signals, asyncio.get_running_loop().create_future())
        claim.keys = [(source, d) for d in signals]
        self._queue.put_nowait(claim)
        return await claim.future

    async def run(self) -> None:
        await asyncio.gather(*(self._lane(n) for n in range(self.lanes)))

    async def _lane(self, n: int) -> None:
        lane = _Lane(self.engine, self.lock_timeout_ms)
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

    async def _settle(self, batch: list[_Claim], lane: _Lane) -> None:
        # Sorted, so two lanes (or instances) lock shared ids in the same order: no deadlock.
        keys = sorted({k for c in batch for k in c.keys})
        new: set[tuple[str, str]] | None = None
        try:
            conn = await lane.connection()
            async with conn.begin():
                rows = await conn.execute(
                    _CLAIM, {"sources": [k[0] for k in keys], "ids": [k[1] for k in keys]}
                )
                new = {(r[0], r[1]) for r in rows}
                owner: set[tuple[str, str]] = set()
                events: list[Any] = []
                for claim in batch:
                    for key in claim.keys:
                        if key in new and key not in owner:
                            owner.add(key)
                            claim.new = True
                            claim.owned += len(claim.signals[key[1]])
                            events.extend(claim.signals[key[1]])
                if events:
                    await self.publish(events)  # the transaction stays open until the broker acks
        except Problem as exc:
            self._fail(batch, new, exc)
            return
        except (SQLAlchemyError, OSError, TimeoutError) as exc:
            log.warning("ingress.deliveries.database_error", error=type(exc).__name__)
            await lane.drop()
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
    def _fail(batch: list[_Claim], new: set[tuple[str, str]] | None, error: BaseException) -> None:
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
            async with self.engine.begin() as conn:
                result = await conn.execute(_PRUNE, {"seconds": self.retention_seconds})
            if result.rowcount:
                log.info("ingress.deliveries.pruned", rows=result.rowcount)
        except (SQLAlchemyError, OSError) as exc:
            log.warning("ingress.deliveries.prune_failed", error=type(exc).__name__)
