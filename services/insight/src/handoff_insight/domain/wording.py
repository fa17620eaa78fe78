"""Open alerts said as a sentence a manager reads, in English and Japanese.

The raw identifiers (band, metric, group_by) stay in the API beside the sentence; the page
shows them small, for whoever tunes config/insight.yaml.
"""

from __future__ import annotations

from dataclasses import dataclass

from handoff_insight.domain.bands import Band

# metric -> (English, Japanese)
METRIC_NAMES: dict[str, tuple[str, str]] = {
    "acceptance_rate": ("Acceptance rate", "受諾率"),
    "rejection_rate": ("Rejection rate", "却下率"),
    "mql_to_sql": ("MQL → SQL conversion", "MQL → SQL 転換率"),
    "sal_to_sql": ("SAL → SQL conversion", "SAL → SQL 転換率"),
    "sla_compliance_accept": ("Accept SLA compliance", "受諾 SLA 遵守率"),
    "sla_compliance_first_contact": ("First-contact SLA compliance", "初回接触 SLA 遵守率"),
    "sla_compliance_status_update": ("Status-update SLA compliance", "状況更新 SLA 遵守率"),
}
# group_by -> (English, Japanese) word put before the group's value
GROUP_NAMES: dict[str, tuple[str, str]] = {
    "source": ("source", "ソース"),
    "campaign": ("campaign", "キャンペーン"),
    "pool": ("pool", "プール"),
    "rep": ("rep", "担当者"),
    "team": ("team", "チーム"),
}


@dataclass(frozen=True)
class Alert:
    """What an open alert says: the band's state for one group, as last judged."""

    band: str
    metric: str
    group_by: str
    group: str
    value: float
    samples: int
    window_days: int


def percent(x: float, digits: int | None = None) -> str:
    """75.0% for a value (one decimal, as the page shows rates); 90% for a bound (as written)."""
    if digits is not None:
        return f"{x * 100:.{digits}f}%"
    return f"{x * 100:g}%"


def _metric(metric: str, ja: bool) -> str:
    names = METRIC_NAMES.get(metric)
    return (names[1] if ja else names[0]) if names else metric


def _group(group_by: str, group: str, ja: bool) -> str:
    if group_by == "overall":
        return "全体" if ja else "all MQLs"
    names = GROUP_NAMES.get(group_by)
    word = (names[1] if ja else names[0]) if names else group_by
    return f"{word} {group}"


def sentence_en(alert: Alert, band: Band | None) -> str:
    """e.g. Accept SLA compliance 75.0% is under the 90% target — campaign X, 8 samples, last 1 day."""
    head = f"{_metric(alert.metric, False)} {percent(alert.value, 1)}"
    if band is not None and band.below is not None and alert.value < band.below:
        head += f" is under the {percent(band.below)} target"
    elif band is not None and band.at_or_above is not None:
        head += f" is at or above the {percent(band.at_or_above)} limit"
    days = "last 1 day" if alert.window_days == 1 else f"last {alert.window_days} days"
    samples = "1 sample" if alert.samples == 1 else f"{alert.samples} samples"
    return f"{head} — {_group(alert.group_by, alert.group, False)}, {samples}, {days}"


def sentence_ja(alert: Alert, band: Band | None) -> str:
    """e.g. 受諾 SLA 遵守率 75.0% が目標 90% を下回っています（キャンペーン X、8 件、直近 1 日）。"""
    head = f"{_metric(alert.metric, True)} {percent(alert.value, 1)}"
    if band is not None and band.below is not None and alert.value < band.below:
        head += f" が目標 {percent(band.below)} を下回っています"
    elif band is not None and band.at_or_above is not None:
        head += f" が上限 {percent(band.at_or_above)} 以上です"
    group = _group(alert.group_by, alert.group, True)
    return f"{head}（{group}、{alert.samples} 件、直近 {alert.window_days} 日）"
