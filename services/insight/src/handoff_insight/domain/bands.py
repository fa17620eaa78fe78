"""Health bands and their transitions: a group enters or leaves a band; each change is one alert.

A band is a half-open interval on a metric: `value < below` or `value >= at_or_above`.
With fewer samples than the band asks for, the group is not judged at all: its alert
state holds and nothing is raised or cleared.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from handoff_insight.domain.funnel import STAGES
from handoff_insight.domain.kpis import Kpis

METRICS = (
    "acceptance_rate",
    "rejection_rate",
    "mql_to_sql",
    "sal_to_sql",
    *(f"sla_compliance_{stage}" for stage in STAGES),
)
GROUPS = ("overall", "source", "campaign", "pool")

Transition = Literal["raised", "cleared"]


@dataclass(frozen=True)
class Band:
    name: str
    metric: str
    below: float | None = None
    at_or_above: float | None = None
    min_samples: int = 20

    def contains(self, value: float) -> bool:
        return (self.below is not None and value < self.below) or (
            self.at_or_above is not None and value >= self.at_or_above
        )


def measure(kpis: Kpis, metric: str) -> tuple[float | None, int]:
    """The metric's value and its sample size (the denominator of the rate)."""
    if metric == "acceptance_rate":
        return kpis.acceptance_rate, kpis.decided
    if metric == "rejection_rate":
        return kpis.rejection_rate, kpis.decided
    if metric == "mql_to_sql":
        return kpis.mql_to_sql, kpis.mqls
    if metric == "sal_to_sql":
        return kpis.sal_to_sql, kpis.accepted
    if metric.startswith("sla_compliance_"):
        sla = kpis.sla_of(metric.removeprefix("sla_compliance_"))
        return sla.compliance, sla.met + sla.breached
    raise ValueError(f"unknown metric {metric!r}")


def judge(band: Band, value: float | None, samples: int) -> bool | None:
    """In the band, out of it, or None when there are too few samples to say."""
    if value is None or samples < band.min_samples:
        return None
    return band.contains(value)


def transition(raised: bool, inside: bool | None) -> Transition | None:
    """The alert to emit given the current state (raised or not) and today's judgement."""
    if inside is None or inside == raised:
        return None
    return "raised" if inside else "cleared"
