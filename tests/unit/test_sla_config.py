"""config/sla.yaml: the shipped policies load, and each kind of mistake names file, line and key."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from handoff.config_file import ConfigError
from handoff_sla_watch.config import load_policies

REPO = Path(__file__).resolve().parents[2]

GOOD = """\
policies:
  - name: accept-within
    stage: accept
    starts_on: handoff.lead.assigned
    stops_on: [handoff.lead.accepted, handoff.lead.rejected, handoff.lead.reassigned]
    within: 24h
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sla.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def fails(path: Path) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load_policies(path)
    assert str(path) in str(caught.value)
    return caught.value


def test_the_shipped_policy_accepts_within_24_hours() -> None:
    (policy,) = load_policies(REPO / "config" / "sla.yaml")
    assert policy.name == "accept-within"
    assert policy.stage == "accept"
    assert policy.starts_on == "handoff.lead.assigned"
    assert policy.stops_on == {
        "handoff.lead.accepted",
        "handoff.lead.rejected",
        "handoff.lead.reassigned",
    }
    assert policy.within == timedelta(hours=24)


def test_the_demo_policy_breaches_within_a_minute() -> None:
    (policy,) = load_policies(REPO / "config" / "demo" / "sla.yaml")
    assert policy.within == timedelta(seconds=20)


def test_a_policy_file_written_by_hand_loads(tmp_path: Path) -> None:
    (policy,) = load_policies(write(tmp_path, GOOD.replace("24h", "1h30m")))
    assert policy.within == timedelta(hours=1, minutes=30)


def test_an_unknown_event_type_names_its_line_and_key(tmp_path: Path) -> None:
    error = fails(
        write(
            tmp_path, GOOD.replace("starts_on: handoff.lead.assigned", "starts_on: lead.assigned")
        )
    )
    assert (error.line, error.key) == (4, "policies[0].starts_on")
    assert "unknown event type 'lead.assigned'" in error.message


def test_an_unknown_stop_event_names_its_position_in_the_list(tmp_path: Path) -> None:
    error = fails(write(tmp_path, GOOD.replace("handoff.lead.rejected", "handoff.lead.rejectd")))
    assert error.key == "policies[0].stops_on[1]"
    assert error.line == 5


def test_an_unknown_stage_names_its_line_and_key(tmp_path: Path) -> None:
    error = fails(write(tmp_path, GOOD.replace("stage: accept", "stage: acceptance")))
    assert (error.line, error.key) == (3, "policies[0].stage")
    assert "first_contact" in error.message


def test_a_duration_that_does_not_parse_names_its_line_and_key(tmp_path: Path) -> None:
    error = fails(write(tmp_path, GOOD.replace("within: 24h", "within: 24 hours")))
    assert (error.line, error.key) == (6, "policies[0].within")
    assert "'24 hours' is not a duration" in error.message


def test_an_unknown_key_is_refused_rather_than_ignored(tmp_path: Path) -> None:
    error = fails(write(tmp_path, GOOD + "    escalate_after: 2h\n"))
    assert (error.line, error.key) == (7, "policies[0].escalate_after")


def test_a_missing_key_names_the_policy_that_lacks_it(tmp_path: Path) -> None:
    error = fails(write(tmp_path, GOOD.replace("    within: 24h\n", "")))
    assert (error.line, error.key) == (2, "policies[0].within")


def test_two_policies_for_one_stage_are_refused(tmp_path: Path) -> None:
    second = GOOD.split("\n", 1)[1].replace("accept-within", "accept-fast").replace("24h", "1h")
    error = fails(write(tmp_path, GOOD + second))
    assert error.key == "policies"
    assert "stage 'accept' is used by more than one policy" in error.message


def test_a_policy_that_stops_on_its_own_start_is_refused(tmp_path: Path) -> None:
    error = fails(write(tmp_path, GOOD.replace("[handoff.lead.accepted", "[handoff.lead.assigned")))
    assert error.key == "policies[0]"
    assert "stops on the event that starts it" in error.message


def test_broken_yaml_names_its_line(tmp_path: Path) -> None:
    error = fails(write(tmp_path, GOOD.replace("    within: 24h", "   within: [24h")))
    assert error.line is not None and error.line >= 6
    assert "not valid YAML" in error.message


def test_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    fails(tmp_path / "absent.yaml")
