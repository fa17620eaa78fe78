"""The bench's results file: each figure beside its goal, met or not."""

from __future__ import annotations

import atexit
import json
from pathlib import Path

import pytest

from bench import results


@pytest.mark.parametrize(
    ("value", "goal", "met"),
    [(0.5, ">= 0.5", True), (0.49, ">= 0.5", False), (50, "<= 50", True), (50, "< 50", False)],
)
def test_a_goal_written_as_text_decides_met(value: float, goal: str, met: bool) -> None:
    assert results.meets(value, goal) is met


def test_a_goal_that_is_not_a_comparison_is_refused() -> None:
    with pytest.raises(ValueError, match="goal"):
        results.meets(1.0, "fast")


def test_the_run_writes_every_figure_with_its_keys_and_a_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(results, "RESULTS", tmp_path / "results.json")
    monkeypatch.setattr(results, "_figures", [])
    monkeypatch.setattr(atexit, "register", lambda _: None)
    results.record("scoring / null", 0.31, "", ">= 0.5")
    results.record("p99", 12.0, "ms", "<= 50")
    results.publish()
    written = json.loads((tmp_path / "results.json").read_text())
    assert [f["met"] for f in written] == [False, True]
    assert set(written[0]) == {"name", "value", "unit", "goal", "met", "command", "date"}
    out = capsys.readouterr().out
    assert "not met" in out and "scoring / null" in out
