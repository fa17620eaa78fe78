"""Apply a batch of consumed events to the funnel: fold facts into rows, update the rollup,
judge the touched groups' bands on a cadence. One transaction per batch (the consumer commits)."""

from __future__ import annotations

import time

import structlog

from handoff.db import UnitOfWork
from handoff.messaging.consumer import Inbound
from handoff_insight.adapters import funnel_rows, rollups
from handoff_insight.config import InsightConfig
from handoff_insight.domain import funnel as f
from handoff_insight.domain.rollup import deltas, group_values
from handoff_insight.service_layer.facts import FunnelEvent, fact_of
from handoff_insight.service_layer.judge import judge_groups

log = structlog.get_logger("handoff.insight")


async def apply_facts(
    uow: UnitOfWork, facts: list[f.Fact]
) -> list[tuple[f.FunnelRow | None, f.FunnelRow]]:
    """Fold facts into their rows; facts of a handoff not yet linked to its MQL are parked."""
    conn = uow.conn
    assigned = [x for x in facts if isinstance(x, f.Assigned)]
    await funnel_rows.link(conn, ((a.handoff_id, a.mql_id) for a in assigned))
    by_mql: dict[str, list[f.Fact]] = {}
    for x in facts:
        if isinstance(x, f.Qualified | f.Assigned):
            by_mql.setdefault(x.mql_id, []).append(x)
    handoff_facts = [x for x in facts if not isinstance(x, f.Qualified | f.Assigned)]
    # Facts parked earlier whose assignment is in this batch join it now.
    handoff_facts += await funnel_rows.unpark(conn, {a.handoff_id for a in assigned})
    links = await funnel_rows.mqls_of(conn, {x.handoff_id for x in handoff_facts})
    orphans = []
    for x in handoff_facts:
        mql_id = links.get(x.handoff_id)
        if mql_id is None:
            orphans.append(x)
        else:
            by_mql.setdefault(mql_id, []).append(x)
    await funnel_rows.park(conn, orphans)
    old = await funnel_rows.load(conn, by_mql)
    changes = []
    for mql_id, row_facts in by_mql.items():
        before = old.get(mql_id)
        after = f.fold(before or f.FunnelRow(mql_id=mql_id), row_facts)
        if after != before:
            changes.append((before, after))
    await funnel_rows.save(conn, [new for _, new in changes])
    flat, cube = deltas(changes)
    await rollups.add(conn, flat)
    await rollups.add_cube(conn, cube)
    return changes


class FunnelHandler:
    """The consumer's batch handler.

    The bands are judged over a rolling window of days, so judging after every batch buys
    nothing but cost: the groups a batch touched are remembered and judged, in the batch's
    transaction, at most once every `evaluate_every` (the first batch is judged at once).
    A group remembered by a process that stops before its turn is judged by the periodic
    sweep, which judges every group on the same cadence.
    """

    def __init__(self, config: InsightConfig, *, judge: bool = True) -> None:
        self.config = config
        self.judge = judge  # a rebuild judges once at the end, silently
        self.pending: set[tuple[str, str]] = set()
        self.judged_at: float | None = None  # time.monotonic() of the last judging

    async def __call__(self, uow: UnitOfWork, batch: list[Inbound[FunnelEvent]]) -> None:
        facts = [x for x in (fact_of(i.event) for i in batch) if x is not None]
        if not facts:
            return
        changes = await apply_facts(uow, facts)
        if not self.judge:
            return
        wanted = self.config.groups
        for before, after in changes:
            for row in (before, after):
                if row is not None and row.qualified_at is not None:
                    self.pending.update(
                        (dim, value) for dim, value in group_values(row).items() if dim in wanted
                    )
        now = time.monotonic()
        if self.judged_at is not None and now - self.judged_at < self.config.evaluate_every:
            return
        groups, self.pending, self.judged_at = self.pending, set(), now
        await judge_groups(uow.conn, self.config, groups)
        log.debug("insight.batch.applied", facts=len(facts), rows=len(changes))
