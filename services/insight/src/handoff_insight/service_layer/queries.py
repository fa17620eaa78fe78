"""Answer the KPI, feedback and alert questions of the API and the dashboard."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from handoff_insight.adapters import alert_states, funnel_rows, rollups
from handoff_insight.adapters.alert_states import AlertState
from handoff_insight.domain.funnel import FunnelRow
from handoff_insight.domain.kpis import Kpis, Labels, kpis
from handoff_insight.domain.rollup import OVERALL, counters, group_values
from handoff_insight.domain.whatif import ScoreOutcomes, WhatIfRow, what_if

WINDOWS = {"7d": 7, "30d": 30, "90d": 90}
_TOTAL = "\x00total"  # the filtered window as a whole, beside its groups
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

    Without filters every number comes from the daily rollup; with filters the window's
    rows are read and folded the same way (slower on a large window).
    """
    if filters:
        per_group = _fold_rows(
            await funnel_rows.in_window(
                conn,
                window.start,
                window.end,
                {FILTER_COLUMNS[k]: v for k, v in filters.items()},
            ),
            by,
        )
        total = per_group.pop(_TOTAL, {})
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


def _fold_rows(rows: list[FunnelRow], by: str) -> dict[str, dict[str, int]]:
    out: dict[str, Counter[str]] = {_TOTAL: Counter()}
    for row in rows:
        named = counters(row)
        out[_TOTAL].update(named)
        if by == "week":
            assert row.qualified_at is not None
            day = row.qualified_at.astimezone(UTC).date()
            value = (day - timedelta(days=day.weekday())).isoformat()
        else:
            value = group_values(row)[by]
        out.setdefault(value, Counter()).update(named)
    return {k: dict(v) for k, v in out.items()}


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
    conn: AsyncConnection, window: Window, min_decided: int
) -> tuple[list[Outcomes], list[Outcomes], list[WhatIfRow]]:
    rules = _outcomes(await funnel_rows.outcomes_by(conn, window.start, window.end, "rule"))
    triggers = _outcomes(await funnel_rows.outcomes_by(conn, window.start, window.end, "trigger"))
    by_score = {
        int(r.score): ScoreOutcomes(int(r.mqls), int(r.accepted), int(r.decided), int(r.sql))
        for r in await funnel_rows.outcomes_by_score(conn, window.start, window.end)
    }
    return rules, triggers, what_if(by_score, min_decided)


async def open_alerts(conn: AsyncConnection) -> list[AlertState]:
    return await alert_states.open_alerts(conn)
