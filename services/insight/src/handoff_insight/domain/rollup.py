"""What one funnel row adds to the daily rollup, per group dimension, as named counters.

The rollup is the read model the KPIs are computed from: summing a window of days of
these counters gives the same numbers as folding every row of the window, without
reading the rows. A changed row is applied as (new contribution - old contribution).
"""

from __future__ import annotations

import bisect
from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import UTC, date, datetime

from handoff_insight.domain.funnel import STAGES, FunnelRow, sla_outcome

# The dimensions a KPI can be grouped by (week is the overall dimension grouped by week).
DIMENSIONS = ("overall", "source", "campaign", "trigger", "fit_grade", "pool", "rep", "team")
NONE = "(none)"  # the group of rows that lack the value, e.g. an MQL with no campaign
OVERALL = "all"

# Time-to-accept and time-to-first-contact histograms: bucket upper bounds in seconds.
# Percentiles are read from these (interpolated inside a bucket), so they are estimates.
BUCKETS = (
    10,
    30,
    60,
    120,
    300,
    600,
    1800,
    3600,
    7200,
    14400,
    28800,
    86400,
    172800,
    604800,
    2592000,
)

Key = tuple[date, str, str, str]  # day, dimension, group value, counter name

# The cube: every row's counters keyed by all its group values at once, so a filtered
# funnel (source, campaign, pool, rep) grouped by any dimension is a sum over the cube.
CUBE_DIMENSIONS = ("source", "campaign", "pool", "rep", "trigger", "fit_grade", "team")
CubeKey = tuple[date, tuple[str, ...], str]  # day, values of CUBE_DIMENSIONS, counter name


def bucket_of(seconds: float) -> int:
    """Index of the histogram bucket that holds `seconds` (the last one is open-ended)."""
    return bisect.bisect_left(BUCKETS, max(seconds, 0.0))


def group_values(row: FunnelRow) -> dict[str, str]:
    return {
        "overall": OVERALL,
        "source": row.source or NONE,
        "campaign": row.campaign or NONE,
        "trigger": row.trigger_rule or NONE,
        "fit_grade": row.fit_grade or NONE,
        "pool": row.pool or NONE,
        "rep": row.rep_id or NONE,
        "team": row.team or NONE,
    }


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return (end - start).total_seconds()


def counters(row: FunnelRow) -> Counter[str]:
    """The named counters of one row (each 0 or more); empty until the MQL event is known."""
    c: Counter[str] = Counter()
    if row.qualified_at is None:
        return c
    c["mqls"] = 1
    if row.assigned_at is not None:
        c["assigned"] = 1
    _count_outcome(row, c)
    _count_times(row, c)
    _count_sla(row, c)
    return +c


def _count_outcome(row: FunnelRow, c: Counter[str]) -> None:
    """What sales decided: accepted or rejected (and why), then the disposition."""
    decision = row.decision
    if decision == "accepted":
        c["accepted"] = 1
        if row.is_sql:
            c["sal_sql"] = 1
    elif decision == "rejected":
        c["rejected"] = 1
        c[f"reason:{row.reason_code or NONE}"] = 1
    if row.is_sql:
        c["sql"] = 1
    if row.disposition == "nurture":
        c["nurture"] = 1
    if row.is_recycled:
        c["recycled"] = 1
    if row.disposition == "disqualified":
        c["disqualified"] = 1


def _count_times(row: FunnelRow, c: Counter[str]) -> None:
    """The histogram buckets of the times to accept and to first contact."""
    to_accept = _seconds(row.assigned_at, row.accepted_at)
    if to_accept is not None:
        c[f"accept_secs:{bucket_of(to_accept)}"] = 1
    to_contact = _seconds(row.assigned_at, row.contacted_at)
    if to_contact is not None:
        c[f"contact_secs:{bucket_of(to_contact)}"] = 1


def _count_sla(row: FunnelRow, c: Counter[str]) -> None:
    """Each stage's SLA outcome, the breaches and the escalations."""
    for stage in {*row.sla_met, *row.sla_breached}:
        outcome = sla_outcome(row, stage)
        c[f"sla_{outcome}:{stage if stage in STAGES else 'other'}"] = 1
    if row.sla_breached:
        c["breaches"] = len(row.sla_breached)
    if row.escalations:
        c["escalations"] = row.escalations


def contribution(row: FunnelRow) -> Counter[Key]:
    """The row's counters under every dimension, on the day it qualified (UTC)."""
    out: Counter[Key] = Counter()
    if row.qualified_at is None:
        return out
    day = row.qualified_at.astimezone(UTC).date()
    named = counters(row)
    for dim, value in group_values(row).items():
        for name, n in named.items():
            out[(day, dim, value, name)] = n
    return out


GroupKey = tuple[str, date, str]  # dimension, day, group value
CellKey = tuple[date, tuple[str, ...]]  # day, values of CUBE_DIMENSIONS
_CUBE_AT = tuple(DIMENSIONS.index(d) for d in CUBE_DIMENSIONS)


def deltas(
    changes: Iterable[tuple[FunnelRow | None, FunnelRow]],
) -> tuple[dict[GroupKey, dict[str, int]], dict[CellKey, dict[str, int]]]:
    """The rollup and the cube changes, as counters per group and per cell, for rows going
    from old (None: new row) to new; zeros dropped. The rows are first summed per day and
    combination of group values, so each combination is spread over the dimensions once."""
    combos: dict[tuple[date, tuple[str, ...]], dict[str, int]] = defaultdict(
        lambda: defaultdict(int)
    )
    for old, new in changes:
        for row, sign in ((new, 1), (old, -1)):
            if row is None or row.qualified_at is None:
                continue
            day = row.qualified_at.astimezone(UTC).date()
            target = combos[(day, tuple(group_values(row).values()))]
            for name, n in counters(row).items():
                target[name] += sign * n
    groups: dict[GroupKey, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    cells: dict[CellKey, dict[str, int]] = {}
    for (day, values), summed in combos.items():
        nonzero = {name: n for name, n in summed.items() if n}
        if not nonzero:
            continue
        cells[(day, tuple(values[i] for i in _CUBE_AT))] = nonzero
        for dim, value in zip(DIMENSIONS, values, strict=True):
            target = groups[(dim, day, value)]
            for name, n in nonzero.items():
                target[name] += n
    packed = {
        key: nonzero for key, c in groups.items() if (nonzero := {k: n for k, n in c.items() if n})
    }
    return packed, cells


def delta(changes: Iterable[tuple[FunnelRow | None, FunnelRow]]) -> dict[Key, int]:
    """The rollup change for rows going from old (None: new row) to new; zeros dropped."""
    return {
        (day, dim, value, name): n
        for (dim, day, value), named in deltas(changes)[0].items()
        for name, n in named.items()
    }


def cube_contribution(row: FunnelRow) -> Counter[CubeKey]:
    """The row's counters under its one cube cell, on the day it qualified (UTC)."""
    out: Counter[CubeKey] = Counter()
    if row.qualified_at is None:
        return out
    day = row.qualified_at.astimezone(UTC).date()
    values = group_values(row)
    cell = tuple(values[d] for d in CUBE_DIMENSIONS)
    for name, n in counters(row).items():
        out[(day, cell, name)] = n
    return out


def cube_delta(changes: Iterable[tuple[FunnelRow | None, FunnelRow]]) -> dict[CubeKey, int]:
    """The cube change for rows going from old (None: new row) to new; zeros dropped."""
    return {
        (day, cell, name): n
        for (day, cell), named in deltas(changes)[1].items()
        for name, n in named.items()
    }
