"""One durations grammar for every config file and setting."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import BaseModel

from handoff.durations import Duration, DurationSeconds, SettingDuration, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90s", 90),
        ("15m", 900),
        ("1h30m", 5400),
        ("1.5h", 5400),
        ("2d", 172_800),
        ("1w", 604_800),
        ("1w2d3h4m5s", 604_800 + 172_800 + 3 * 3600 + 4 * 60 + 5),
        (" 1h 30m ", 5400),
        ("0.5s", 0.5),
        ("45", 45),
        (30, 30),
        (2.5, 2.5),
    ],
)
def test_every_form_people_write_reads_the_same_everywhere(
    text: str | int | float, seconds: float
) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize(
    "text", ["", "m", "30m1h", "1h1h", "1y", "-5m", "0s", "0", "1.h", "abc", "nan", True, 0, -1.0]
)
def test_anything_else_is_refused_with_the_grammar_named(text: str | int | float) -> None:
    with pytest.raises(ValueError, match=r"1h30m"):
        parse_duration(text)


def test_an_absurd_length_is_refused_not_crashed() -> None:
    with pytest.raises(ValueError, match="too long"):
        parse_duration("99999999999w")


class _Config(BaseModel):
    window: Duration
    retry: DurationSeconds


class _Setting(BaseModel):
    keep: SettingDuration


def test_the_pydantic_types_read_the_grammar() -> None:
    cfg = _Config.model_validate({"window": "1h30m", "retry": "1.5m"})
    assert cfg.window == timedelta(minutes=90)
    assert cfg.retry == 90.0
    assert _Setting.model_validate({"keep": "14d"}).keep == timedelta(days=14)
    assert _Setting.model_validate({"keep": "P1D"}).keep == timedelta(days=1)  # ISO 8601 too


def test_a_config_error_names_the_field() -> None:
    with pytest.raises(ValueError, match=r"window[\s\S]*not a duration"):
        _Config.model_validate({"window": "soon", "retry": 1})
