"""Judge the health bands for groups and write each transition with its alert, in one transaction."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from handoff.messaging import outbox
from handoff_insight.adapters import alert_states, events_out, rollups
from handoff_insight.adapters.alert_states import AlertState
from handoff_insight.adapters.tables import SCHEMA
from handoff_insight.config import InsightConfig
from handoff_insight.domain.bands import judge, measure, transition
from handoff_insight.domain.kpis import kpis

log = structlog.get_logger("handoff.insight")


def window_days(config: InsightConfig, now: datetime) -> tuple[date, date]:
    last = now.astimezone(UTC).date()
    return last - timedelta(days=config.window_days - 1), last


async def judge_groups(
    conn: AsyncConnection,
    config: InsightConfig,
    groups: Iterable[tuple[str, str]] | None,
    now: datetime | None = None,
    *,
    emit: bool = True,
) -> list[AlertState]:
    """Judge the given (group_by, value) pairs, or every group when None; return the changes.

    With emit=False (a rebuild) the state is brought up to date without publishing alerts.
    """
    if not config.bands:
        return []
    now = now or datetime.now(UTC)
    first, last = window_days(config, now)
    wanted: dict[str, set[str] | None] = {}
    if groups is None:
        wanted = dict.fromkeys(config.groups)
    else:
        for dim, value in groups:
            if dim in config.groups:
                seen = wanted.setdefault(dim, set())
                assert seen is not None
                seen.add(value)
    if not wanted:
        return []
    await alert_states.lock(conn)
    states = await alert_states.all_states(conn)
    changed: list[AlertState] = []
    for dim, values in wanted.items():
        found = await rollups.sums(conn, dim, first, last, values)
        for value in sorted(values if values is not None else found):
            group_kpis = kpis(found.get(value, {}))
            for band in config.bands:
                metric_value, samples = measure(group_kpis, band.metric)
                before = states.get((band.name, dim, value))
                kind = transition(
                    before.raised if before else False, judge(band, metric_value, samples)
                )
                if kind is None:
                    continue
                assert metric_value is not None
                changed.append(
                    AlertState(
                        band.name,
                        dim,
                        value,
                        kind == "raised",
                        band.metric,
                        metric_value,
                        samples,
                        now,
                    )
                )
    await alert_states.save(conn, changed)
    if emit and changed:
        bands = {b.name: b for b in config.bands}
        await outbox.append(
            conn,
            SCHEMA,
            [
                events_out.message(events_out.funnel_alert(s, bands[s.band], config.window))
                for s in changed
            ],
        )
        for s in changed:
            log.info(
                "insight.alert." + ("raised" if s.raised else "cleared"),
                band=s.band,
                group_by=s.group_by,
                group=s.group,
                value=round(s.value, 4),
                samples=s.samples,
            )
    return changed
