"""Answer the KPI, feedback and alert questions of the API and the dashboard."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from handoff_insight.adapters import alert_states, funnel_rows, rollups
from handoff_insight.adapters.alert_states import AlertState
from handoff_insight.domain.kpis import Kpis, Labels, kpis
from handoff_insight.domain.rollup import OVERALL
from handoff_insight.domain.whatif import ScoreOutcomes, WhatIfRow, what_if

WINDOWS = {"7d": 7, "30d": 30, "90d": 90}
FILTER_COLUMNS = {"source": "source", "campaign": "campaign", "pool": "pool", "rep": "rep_id"}


@dataclass(frozen=True)
class Window:
    name: str  # 30d, or "custom" for from/to
    first: date
    last: date  # inclusive

    @classmethod
    def rolling(cls, name: str, today: date) -> Window:
        return cls(name, today - timedelta(days=WINDOWS[name] - 1), today)

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first, time(), UTC)

    @property
    def end(self) -> datetime:
        return datetime.combine(self.last + timedelta(days=1), time(), UTC)


@dataclass(frozen=True)
class Group:
    group: str
    kpis: Kpis


async def funnel(
    conn: AsyncConnection,
    window: Window,
    by: str,
    filters: dict[str, str],
    labels: Labels,
) -> tuple[Kpis, list[Group]]:
    """The overall KPIs of the window (after filters) and the KPIs per group of `by`.

    Unfiltered, every number comes from the daily rollup per dimension; filtered, from the
    cube (the counters keyed by all group values at once), summed at query time. Both are
    sums of pre-aggregated counters, never a scan of the MQL rows.
    """
    if filters:
        per_group = await rollups.filtered(conn, by, window.first, window.last, filters)
        total = _sum(per_group.values())
    else:
        if by == "week":
            per_group = await rollups.weekly(conn, window.first, window.last)
        else:
            per_group = await rollups.sums(conn, by, window.first, window.last)
        total = (
            per_group.get(OVERALL, {})
            if by == "overall"
            else (await rollups.sums(conn, "overall", window.first, window.last)).get(OVERALL, {})
        )
    groups = [Group(value, kpis(c, labels)) for value, c in per_group.items()]
    groups.sort(key=lambda g: (g.group if by == "week" else "", -g.kpis.mqls, g.group))
    return kpis(total, labels), groups


def _sum(groups: Iterable[Mapping[str, int]]) -> dict[str, int]:
    """The whole of the groups: every MQL is in exactly one group of a dimension."""
    total: Counter[str] = Counter()
    for counters in groups:
        total.update(counters)
    return dict(total)


@dataclass
class Outcomes:
    """How the MQLs a scoring rule (or trigger) contributed to ended."""

    name: str
    mqls: int = 0
    accepted: int = 0
    rejected: int = 0
    open: int = 0
    sql: int = 0
    reasons: Counter[str] = field(default_factory=Counter)

    def add(self, decision: str, reason: str, is_sql: bool, n: int) -> None:
        self.mqls += n
        if decision == "accepted":
            self.accepted += n
        elif decision == "rejected":
            self.rejected += n
            self.reasons[reason or "(none)"] += n
        else:
            self.open += n
        if is_sql:
            self.sql += n


def _outcomes(rows: list[Any]) -> list[Outcomes]:
    acc: dict[str, Outcomes] = {}
    for r in rows:
        acc.setdefault(r.name, Outcomes(r.name)).add(r.decision, r.reason, r.is_sql, int(r.n))
    return sorted(acc.values(), key=lambda o: (-o.mqls, o.name))


async def feedback(
    conn: AsyncConnection, window: Window, filters: dict[str, str], min_decided: int
) -> tuple[list[Outcomes], list[Outcomes], list[WhatIfRow]]:
    """Outcomes per rule and per trigger, and the what-if, over the window's MQLs that match
    the same filters as the funnel (source, campaign, pool, rep), so the page agrees with itself."""
    columns = {FILTER_COLUMNS[k]: v for k, v in filters.items()}
    start, end = window.start, window.end
    rules = _outcomes(await funnel_rows.outcomes_by(conn, start, end, "rule", columns))
    triggers = _outcomes(await funnel_rows.outcomes_by(conn, start, end, "trigger", columns))
    by_score = {
        int(r.score): ScoreOutcomes(int(r.mqls), int(r.accepted), int(r.decided), int(r.sql))
        for r in await funnel_rows.outcomes_by_score(conn, start, end, columns)
    }
    return rules, triggers, what_if(by_score, min_decided)


async def open_alerts(conn: AsyncConnection) -> list[AlertState]:
    return await alert_states.open_alerts(conn)
