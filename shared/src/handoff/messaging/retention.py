"""Bounded growth: rows kept only for their retention, deleted in small batches by a background task.

Every service prunes its inbox; a service adds its own tables (sla-watch its ended timers,
scoring its webhook deliveries) to `Runtime.retentions` in its setup. Each pass deletes at
most `batch` rows per transaction, picked through the index on the age column, so a long
backlog (the first run after an upgrade) never holds locks or bloats one transaction.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from handoff.metrics import ROWS_PRUNED

log = structlog.get_logger("handoff.retention")


@dataclass(frozen=True, slots=True)
class Retention:
    """Rows of `schema.table` whose `age_column` is older than `keep` (and match `only`)."""

    schema: str
    table: str
    age_column: str
    keep: timedelta
    only: str = ""  # an extra SQL condition, e.g. "state IN ('met', 'cancelled')"

    @property
    def name(self) -> str:
        return f"{self.schema}.{self.table}"


def inbox_retention(schema: str, keep: timedelta) -> Retention:
    return Retention(schema, "inbox", "processed_at", keep)


async def prune(engine: AsyncEngine, retention: Retention, batch: int) -> int:
    """Delete every expired row, `batch` at a time; return how many went."""
    extra = f" AND ({retention.only})" if retention.only else ""
    # ctid picks the rows found through the age index without naming the table's key;
    # SKIP LOCKED lets two instances prune side by side without waiting on each other.
    statement = text(
        f"DELETE FROM {retention.name} WHERE ctid = ANY(ARRAY("
        f"SELECT ctid FROM {retention.name} "
        f"WHERE {retention.age_column} < now() - make_interval(secs => :seconds){extra} "
        "LIMIT :batch FOR UPDATE SKIP LOCKED))"
    )
    seconds = retention.keep.total_seconds()
    total = 0
    while True:
        async with engine.begin() as conn:
            deleted = (await conn.execute(statement, {"seconds": seconds, "batch": batch})).rowcount
        total += deleted
        if deleted:
            ROWS_PRUNED.labels(retention.schema, retention.table).inc(deleted)
        if deleted < batch:
            return total
        await asyncio.sleep(0)  # let the service's other work in between batches


class Pruner:
    """Prunes every retention at start and then every `every_seconds`, until cancelled."""

    def __init__(
        self,
        engine: AsyncEngine,
        retentions: Sequence[Retention],
        *,
        every_seconds: float,
        batch: int,
    ) -> None:
        self.engine, self.retentions = engine, tuple(retentions)
        self.every_seconds, self.batch = every_seconds, batch

    async def run(self) -> None:
        while True:
            await self.prune_all()
            await asyncio.sleep(self.every_seconds)

    async def prune_all(self) -> dict[str, int]:
        pruned = {}
        for retention in self.retentions:
            try:
                pruned[retention.name] = count = await prune(self.engine, retention, self.batch)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database is away: the next pass catches up
                log.warning(
                    "retention.prune.failed", table=retention.name, error=type(exc).__name__
                )
                continue
            if count:
                log.info(
                    "retention.pruned",
                    table=retention.name,
                    rows=count,
                    older_than_days=round(retention.keep.total_seconds() / 86400, 2),
                )
        return pruned
