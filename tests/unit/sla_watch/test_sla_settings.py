"""sla-watch's settings: its identity for the CLI, and its durations in the one grammar."""

from __future__ import annotations

from datetime import timedelta
from importlib.metadata import entry_points

import pytest
from pydantic import ValidationError

from handoff_sla_watch.settings import SERVICE, SlaSettings


def test_the_services_entry_point_names_sla_watch_from_its_settings() -> None:
    (found,) = [e for e in entry_points(group="handoff.services") if e.name == "sla-watch"]
    assert found.value == "handoff_sla_watch.settings:SERVICE"
    assert found.load() is SERVICE and SERVICE.schema == "sla"


@pytest.mark.parametrize(
    ("written", "expected"),
    [("30d", timedelta(days=30)), ("1.5h", timedelta(hours=1.5)), ("P14D", timedelta(days=14))],
)
def test_the_timer_retention_is_written_as_every_duration_is(
    monkeypatch: pytest.MonkeyPatch, written: str, expected: timedelta
) -> None:
    monkeypatch.setenv("HANDOFF_SLA_TIMER_RETENTION", written)
    assert SlaSettings().timer_retention == expected


def test_a_timer_retention_under_an_hour_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HANDOFF_SLA_TIMER_RETENTION", "30m")
    with pytest.raises(ValidationError, match="HANDOFF_SLA_TIMER_RETENTION"):
        SlaSettings()
