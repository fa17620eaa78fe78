"""The KPI formulas, over summed rollup counters of a group and window.

A rate is None when its denominator is zero: "no data" is not 0%.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from handoff_insight.domain.funnel import STAGES
from handoff_insight.domain.rollup import BUCKETS


def rate(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def percentile(histogram: Mapping[int, int], q: float) -> float | None:
    """The q-quantile (0..1) in seconds from bucket counts, linear inside the bucket."""
    total = sum(histogram.values())
    if total == 0:
        return None
    rank = q * total
    seen = 0
    for index in range(len(BUCKETS) + 1):
        n = histogram.get(index, 0)
        if n and seen + n >= rank:
            low = BUCKETS[index - 1] if index > 0 else 0
            high = BUCKETS[index] if index < len(BUCKETS) else BUCKETS[-1]
            return float(low + (high - low) * ((rank - seen) / n))
        seen += n
    return float(BUCKETS[-1])


@dataclass(frozen=True)
class Reason:
    code: str
    count: int
    share: float | None  # of the rejected MQLs
    label_en: str
    label_ja: str


@dataclass(frozen=True)
class Sla:
    stage: str
    met: int
    breached: int

    @property
    def compliance(self) -> float | None:
        return rate(self.met, self.met + self.breached)


@dataclass(frozen=True)
class Kpis:
    mqls: int
    assigned: int
    accepted: int
    rejected: int
    sql: int
    sal_sql: int
    recycled: int
    disqualified: int
    nurture: int
    breaches: int
    escalations: int
    time_to_accept_p50: float | None
    time_to_accept_p90: float | None
    time_to_contact_p50: float | None
    time_to_contact_p90: float | None
    accept_histogram: dict[int, int]
    sla: list[Sla]
    reasons: list[Reason] = field(default_factory=list)

    @property
    def decided(self) -> int:
        return self.accepted + self.rejected

    @property
    def acceptance_rate(self) -> float | None:
        return rate(self.accepted, self.decided)

    @property
    def rejection_rate(self) -> float | None:
        return rate(self.rejected, self.decided)

    @property
    def mql_to_sql(self) -> float | None:
        return rate(self.sql, self.mqls)

    @property
    def sal_to_sql(self) -> float | None:
        return rate(self.sal_sql, self.accepted)

    @property
    def recycle_share(self) -> float | None:
        return rate(self.recycled, self.mqls)

    @property
    def disqualify_share(self) -> float | None:
        return rate(self.disqualified, self.mqls)

    def sla_of(self, stage: str) -> Sla:
        return next((s for s in self.sla if s.stage == stage), Sla(stage, 0, 0))


Labels = Mapping[str, tuple[str, str]]  # reason code -> (English, Japanese)


def reasons_of(
    counts: Mapping[str, int], rejected: int, labels: Labels | None = None
) -> list[Reason]:
    """Rejection reasons, most frequent first, each with its share and its EN/JA labels.

    A code without a label in routing.yaml reads as its words ("no_budget" -> "no budget").
    """
    labels = labels or {}
    ordered = sorted(((c, n) for c, n in counts.items() if n), key=lambda i: (-i[1], i[0]))
    return [
        Reason(
            code,
            n,
            rate(n, rejected),
            *labels.get(code, (code.replace("_", " "), code.replace("_", " "))),
        )
        for code, n in ordered
    ]


def _histogram(counters: Mapping[str, int], prefix: str) -> dict[int, int]:
    return {
        int(name.removeprefix(prefix)): n
        for name, n in counters.items()
        if name.startswith(prefix) and n
    }


def kpis(counters: Mapping[str, int], labels: Labels | None = None) -> Kpis:
    """Every KPI of one group from its summed counters."""
    get = counters.get
    rejected = get("rejected", 0)
    reasons = {
        name.removeprefix("reason:"): n
        for name, n in counters.items()
        if name.startswith("reason:")
    }
    accept = _histogram(counters, "accept_secs:")
    contact = _histogram(counters, "contact_secs:")
    return Kpis(
        mqls=get("mqls", 0),
        assigned=get("assigned", 0),
        accepted=get("accepted", 0),
        rejected=rejected,
        sql=get("sql", 0),
        sal_sql=get("sal_sql", 0),
        recycled=get("recycled", 0),
        disqualified=get("disqualified", 0),
        nurture=get("nurture", 0),
        breaches=get("breaches", 0),
        escalations=get("escalations", 0),
        time_to_accept_p50=percentile(accept, 0.5),
        time_to_accept_p90=percentile(accept, 0.9),
        time_to_contact_p50=percentile(contact, 0.5),
        time_to_contact_p90=percentile(contact, 0.9),
        accept_histogram=accept,
        sla=[
            Sla(stage, get(f"sla_met:{stage}", 0), get(f"sla_breached:{stage}", 0))
            for stage in (*STAGES, "other")
        ],
        reasons=reasons_of(reasons, rejected, labels),
    )
