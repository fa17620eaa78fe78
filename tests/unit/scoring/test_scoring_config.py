"""config/scoring.yaml: the shipped model loads and is realistic; a mistake names file, line and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from handoff.config_file import ConfigError
from handoff_scoring.config import load_model

REPO = Path(__file__).resolve().parents[3]


def test_the_shipped_model_is_a_realistic_one() -> None:
    model = load_model(REPO / "config" / "scoring.yaml")
    assert len(model.rules) >= 15 and len(model.fit_rules) >= 8
    assert model.half_life == 30 * 86_400 and model.criteria and model.sequences
    assert model.criteria[0].counters == ("content_engagements", "pricing_visits")
    assert not model.criteria[0].reads_scores


GOOD = """\
model_version: v1
threshold: 50
behaviour:
  - {name: views, activity: page_view, points: 1}
"""


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "scoring.yaml"
    path.write_text(body, encoding="utf-8")
    return path


def fails(tmp_path: Path, body: str) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load_model(write(tmp_path, body))
    return caught.value


def test_a_minimal_model_loads(tmp_path: Path) -> None:
    model = load_model(write(tmp_path, GOOD))
    assert model.version == "v1" and model.threshold == 50 and model.half_life is None


def test_a_bad_expression_stops_the_service_naming_its_line(tmp_path: Path) -> None:
    err = fails(
        tmp_path,
        GOOD + "triggers:\n  criteria:\n    - name: broken\n      when: 'score >= && fit'\n",
    )
    assert (err.line, err.key) == (8, "triggers.criteria[0].when")
    assert "not a valid CEL condition" in err.message


def test_an_unknown_variable_in_an_expression_is_refused(tmp_path: Path) -> None:
    err = fails(tmp_path, GOOD + "triggers:\n  criteria:\n    - {name: c, when: 'scor >= 10'}\n")
    assert err.key == "triggers.criteria[0].when" and "unknown variable scor" in err.message


def test_a_criterion_reading_an_undefined_counter_is_refused(tmp_path: Path) -> None:
    err = fails(
        tmp_path,
        GOOD + "triggers:\n  criteria:\n    - {name: c, when: 'count.downloads >= 3'}\n",
    )
    assert err.key == "triggers" and "count.downloads" in err.message


@pytest.mark.parametrize(
    ("extra", "key", "line"),
    [
        (
            "  - {name: x, activity: page_view, points: 1, repeat: {at_most: 2}}\n",
            "behaviour[1].repeat",
            5,
        ),
        ("  - {name: views, activity: email_open, points: 1}\n", "behaviour", 3),
        ("  - {name: y, activity: Page-View, points: 1}\n", "behaviour[1].activity", 5),
        (
            "  - {name: z, activity: page_view, points: 1, lifespan: 30 days}\n",
            "behaviour[1].lifespan",
            5,
        ),
        (
            "  - {name: w, activity: page_view, points: 1, where: {path: /x}}\n",
            "behaviour[1].where.path",
            5,
        ),
    ],
)
def test_rule_mistakes_name_the_key(tmp_path: Path, extra: str, key: str, line: int) -> None:
    err = fails(tmp_path, GOOD + extra)
    assert (err.key, err.line) == (key, line)


def test_fit_and_disqualifier_mistakes_name_the_key(tmp_path: Path) -> None:
    err = fails(tmp_path, GOOD + "fit:\n  rules:\n    - {name: f, seniority: [boss], points: 5}\n")
    assert err.key == "fit.rules[0].seniority" and "'boss'" in err.message
    err = fails(tmp_path, GOOD + "fit:\n  grades: {A: 10, B: 20, C: 5}\n")
    assert err.key == "fit.grades"
    err = fails(tmp_path, GOOD + "disqualify:\n  - {name: d, reason: spam}\n")
    assert err.key == "disqualify[0]"


def test_durations_follow_the_one_grammar_of_every_config_file(tmp_path: Path) -> None:
    decay = "decay: {half_life: 30d, reset_after_inactive: 1h30m}\nhistory: {retention: 1.5h}\n"
    model = load_model(write(tmp_path, GOOD + decay))
    assert (model.half_life, model.reset_after, model.retention) == (30 * 86_400, 5_400, 5_400)
    err = fails(tmp_path, GOOD + "decay: {half_life: 30 days}\n")
    assert err.key == "decay.half_life" and '"1h30m"' in err.message
