"""The threshold what-if: had the MQL bar been at T, how many MQLs, accepted and SQL would there be.

Only MQLs that happened are known, so a threshold below the lowest recorded score cannot be
judged (those leads never became MQLs): the table starts at the lowest score seen.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from handoff_insight.domain.kpis import rate


@dataclass(frozen=True)
class ScoreOutcomes:
    """MQLs at one score and how they ended."""

    mqls: int = 0
    accepted: int = 0
    decided: int = 0
    sql: int = 0


@dataclass(frozen=True)
class WhatIfRow:
    threshold: int
    mqls: int
    decided: int
    acceptance_rate: float | None
    sql_rate: float | None
    too_few: bool  # fewer decided MQLs than the trust minimum: read with care


def thresholds(scores: list[int], steps: int = 8) -> list[int]:
    """Round thresholds from the lowest recorded score upward, at most `steps`+1 of them."""
    if not scores:
        return []
    low, high = min(scores), max(scores)
    step = max(1, -(-(high - low) // steps))
    if step > 5:
        step = -(-step // 5) * 5  # round steps read better: 5, 10, 15 ...
    return list(range(low, high + 1, step))


def what_if(
    by_score: Mapping[int, ScoreOutcomes], min_decided: int, steps: int = 8
) -> list[WhatIfRow]:
    rows = []
    for t in thresholds(sorted(by_score), steps):
        kept = [o for s, o in by_score.items() if s >= t]
        mqls = sum(o.mqls for o in kept)
        decided = sum(o.decided for o in kept)
        rows.append(
            WhatIfRow(
                threshold=t,
                mqls=mqls,
                decided=decided,
                acceptance_rate=rate(sum(o.accepted for o in kept), decided),
                sql_rate=rate(sum(o.sql for o in kept), mqls),
                too_few=decided < min_decided,
            )
        )
    return rows
