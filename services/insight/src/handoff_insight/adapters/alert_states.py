"""The alert state per (band, group): raised or not, and the value and samples when it changed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection


@dataclass(frozen=True)
class AlertState:
    band: str
    group_by: str
    group: str
    raised: bool
    metric: str
    value: float
    samples: int
    changed_at: datetime


async def lock(conn: AsyncConnection) -> None:
    """One judge at a time (the consumer's batch or the periodic sweep): transitions stay single."""
    await conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('insight.bands'))"))


async def all_states(conn: AsyncConnection) -> dict[tuple[str, str, str], AlertState]:
    result = await conn.execute(
        text(
            "SELECT band, group_by, grp, raised, metric, value, samples, changed_at "
            "FROM insight.alerts"
        )
    )
    return {
        (r.band, r.group_by, r.grp): AlertState(
            r.band, r.group_by, r.grp, r.raised, r.metric, r.value, r.samples, r.changed_at
        )
        for r in result
    }


async def save(conn: AsyncConnection, states: Sequence[AlertState]) -> None:
    if not states:
        return
    await conn.execute(
        text(
            "INSERT INTO insight.alerts (band, group_by, grp, raised, metric, value, samples, "
            "changed_at) SELECT * FROM unnest(CAST(:band AS text[]), CAST(:group_by AS text[]), "
            "CAST(:grp AS text[]), CAST(:raised AS boolean[]), CAST(:metric AS text[]), "
            "CAST(:value AS float8[]), CAST(:samples AS int[]), CAST(:changed_at AS timestamptz[])) "
            "ON CONFLICT (band, group_by, grp) DO UPDATE SET raised = excluded.raised, "
            "metric = excluded.metric, value = excluded.value, samples = excluded.samples, "
            "changed_at = excluded.changed_at"
        ),
        {
            "band": [s.band for s in states],
            "group_by": [s.group_by for s in states],
            "grp": [s.group for s in states],
            "raised": [s.raised for s in states],
            "metric": [s.metric for s in states],
            "value": [s.value for s in states],
            "samples": [s.samples for s in states],
            "changed_at": [s.changed_at for s in states],
        },
    )


async def open_alerts(conn: AsyncConnection) -> list[AlertState]:
    result = await conn.execute(
        text(
            "SELECT band, group_by, grp, raised, metric, value, samples, changed_at "
            "FROM insight.alerts WHERE raised ORDER BY changed_at DESC, band, group_by, grp"
        )
    )
    return [
        AlertState(r.band, r.group_by, r.grp, r.raised, r.metric, r.value, r.samples, r.changed_at)
        for r in result
    ]
