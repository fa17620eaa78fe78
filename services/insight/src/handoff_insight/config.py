"""Read config/insight.yaml (bands, window, what-if) and the reason labels of config/routing.yaml.

Mistakes name the file, line and key (handoff.config_file).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from handoff.config_file import load_yaml
from handoff.durations import DurationSeconds, parse_duration
from handoff_insight.domain.bands import GROUPS, METRICS, Band
from handoff_insight.domain.kpis import Labels

MAX_WINDOW_DAYS = 999


def _fraction(value: str | float) -> float:
    """0.1, or a percentage written as "10%"."""
    if isinstance(value, str):
        text = value.strip()
        if not re.fullmatch(r"[0-9]+(\.[0-9]+)?%", text):
            raise ValueError(f"{value!r} is not a rate; write a percentage like 10% or 0.1")
        number = float(text[:-1]) / 100
    else:
        number = float(value)
    if not 0 <= number <= 1:
        raise ValueError(f"a rate lies between 0% and 100%, not {value!r}")
    return number


class BandFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,49}$")
    metric: str
    below: str | float | None = Field(default=None, description="in the band when value < this")
    at_or_above: str | float | None = Field(
        default=None, description="in the band when value >= this"
    )
    min_samples: int = Field(default=20, ge=1)
    description: str | None = None

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, value: str) -> str:
        if value not in METRICS:
            raise ValueError(f"unknown metric {value!r}; expected one of {', '.join(METRICS)}")
        return value

    @field_validator("below", "at_or_above")
    @classmethod
    def _rate(cls, value: str | float | None) -> str | float | None:
        if value is not None:
            _fraction(value)
        return value

    @model_validator(mode="after")
    def _one_bound(self) -> BandFile:
        if self.below is None and self.at_or_above is None:
            raise ValueError(f"band {self.name!r} needs `below` or `at_or_above`")
        return self

    def build(self) -> Band:
        return Band(
            name=self.name,
            metric=self.metric,
            below=_fraction(self.below) if self.below is not None else None,
            at_or_above=_fraction(self.at_or_above) if self.at_or_above is not None else None,
            min_samples=self.min_samples,
        )


class InsightFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    window: str = Field(default="30d", description="the rolling window bands are judged over")
    evaluate_every: DurationSeconds = Field(
        default=60.0, description="re-judge every group this often"
    )
    groups: list[str] = Field(default_factory=lambda: list(GROUPS))
    bands: list[BandFile] = Field(default_factory=list)
    whatif_min_decided: int = Field(default=30, ge=1)
    metrics_max_groups: int = Field(default=20, ge=1, le=200)

    @field_validator("window")
    @classmethod
    def _days(cls, value: str) -> str:
        window_days(value)
        return value

    @field_validator("groups")
    @classmethod
    def _known_groups(cls, value: list[str]) -> list[str]:
        for g in value:
            if g not in GROUPS:
                raise ValueError(f"unknown group {g!r}; expected one of {', '.join(GROUPS)}")
        return value

    @field_validator("bands")
    @classmethod
    def _unique(cls, value: list[BandFile]) -> list[BandFile]:
        names = [b.name for b in value]
        for name in names:
            if names.count(name) > 1:
                raise ValueError(f"band {name!r} is defined twice")
        return value


@dataclass(frozen=True)
class InsightConfig:
    window_days: int
    evaluate_every: float
    groups: tuple[str, ...]
    bands: tuple[Band, ...]
    whatif_min_decided: int
    metrics_max_groups: int

    @property
    def window(self) -> str:
        return f"{self.window_days}d"

    @property
    def span(self) -> timedelta:
        return timedelta(days=self.window_days)


def window_days(text: str) -> int:
    """The window's whole days, in the durations grammar every config file uses ("30d", "4w")."""
    try:
        span = parse_duration(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a window; write days like 30d or 4w") from None
    if span.seconds or span.microseconds or not 1 <= span.days <= MAX_WINDOW_DAYS:
        raise ValueError(
            f"{text!r} is not a window; write whole days like 30d or 4w, "
            f"at most {MAX_WINDOW_DAYS}d (the rollup counts per day)"
        )
    return span.days


def load_config(path: Path) -> InsightConfig:
    parsed = load_yaml(path, InsightFile)
    return InsightConfig(
        window_days=window_days(parsed.window),
        evaluate_every=parsed.evaluate_every,
        groups=tuple(parsed.groups),
        bands=tuple(b.build() for b in parsed.bands),
        whatif_min_decided=parsed.whatif_min_decided,
        metrics_max_groups=parsed.metrics_max_groups,
    )


class _ReasonCode(BaseModel):
    model_config = ConfigDict(extra="ignore")

    code: str
    label_en: str | None = None
    label_ja: str | None = None


class _RoutingReasons(BaseModel):
    """Only the part of routing.yaml insight reads; routing validates the rest."""

    model_config = ConfigDict(extra="ignore")

    reason_codes: list[_ReasonCode] = Field(default_factory=list)


def load_reason_labels(path: Path) -> Labels:
    """reason code -> (English, Japanese), from routing's taxonomy; the code itself if unlabelled."""
    parsed = load_yaml(path, _RoutingReasons)
    return {
        r.code: (r.label_en or r.code, r.label_ja or r.label_en or r.code)
        for r in parsed.reason_codes
    }
