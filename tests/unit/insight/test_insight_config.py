"""config/insight.yaml: the shipped files load; a mistake names the file, line and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from handoff.config_file import ConfigError
from handoff_insight.config import load_config, load_reason_labels

REPO = Path(__file__).resolve().parents[3]


def test_the_shipped_configs_load() -> None:
    config = load_config(REPO / "config" / "insight.yaml")
    assert [b.name for b in config.bands] == [
        "bar_too_loose",
        "misaligned",
        "low_sql_conversion",
        "accept_sla_missed",
    ]
    assert config.bands[1].below == 0.10 and config.bands[0].at_or_above == 1.0
    assert config.window_days == 30 and config.evaluate_every == 60.0
    demo = load_config(REPO / "config" / "demo" / "insight.yaml")
    assert max(b.min_samples for b in demo.bands) <= 10


def test_reason_labels_come_from_routings_taxonomy() -> None:
    labels = load_reason_labels(REPO / "config" / "routing.yaml")
    assert labels["no_budget"] == ("No budget", "予算なし")


@pytest.mark.parametrize(
    ("body", "line", "key", "words"),
    [
        (
            "bands:\n  - name: x\n    metric: happiness\n    below: 10%\n",
            3,
            "bands[0].metric",
            "acceptance_rate",
        ),
        (
            "bands:\n  - name: x\n    metric: mql_to_sql\n    below: 120%\n",
            4,
            "bands[0].below",
            "between 0% and 100%",
        ),
        (
            "bands:\n  - name: x\n    metric: mql_to_sql\n",
            2,
            "bands[0]",
            "needs `below` or `at_or_above`",
        ),
        ("window: 30 days\n", 1, "window", "write days like 30d"),
        ("window: 36h\n", 1, "window", "whole days"),
        ("evaluate_every: 0s\n", 1, "evaluate_every", "not a positive duration"),
        ("groups: [overall, rep]\n", 1, "groups", "unknown group 'rep'"),
        ("bands: []\nmin_sample: 3\n", 2, "min_sample", "unknown key"),
    ],
)
def test_a_mistake_names_file_line_and_key(
    tmp_path: Path, body: str, line: int, key: str, words: str
) -> None:
    path = tmp_path / "insight.yaml"
    path.write_text(body)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert (caught.value.line, caught.value.key) == (line, key)
    assert words in caught.value.message
    assert str(caught.value).startswith(f"{path}:{line}: {key}: ")


def test_the_window_and_the_cadence_follow_the_one_durations_grammar(tmp_path: Path) -> None:
    path = tmp_path / "insight.yaml"
    path.write_text("window: 4w\nevaluate_every: 1.5m\n")
    config = load_config(path)
    assert (config.window_days, config.window, config.evaluate_every) == (28, "28d", 90.0)
