"""config/sla.yaml: the shipped policies load, and each kind of mistake names file, line and key."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from handoff.config_file import ConfigError
from handoff_sla_watch.config import load_policies

REPO = Path(__file__).resolve().parents[3]

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


def test_the_shipped_policies_cover_the_three_stages_with_a_tighter_clock_for_demos() -> None:
    policies = load_policies(REPO / "config" / "sla.yaml")
    by_name = {p.name: p for p in policies}
    assert {p.stage for p in policies} == {"accept", "first_contact", "status_update"}
    accept = by_name["accept-within"]
    assert accept.starts_on == "handoff.lead.assigned"
    assert accept.stops_on == {
        "handoff.lead.accepted",
        "handoff.lead.rejected",
        "handoff.lead.reassigned",
    }
    assert accept.within == timedelta(hours=24)
    assert accept.warn_at == 0.75
    assert [(s.after, s.action) for s in accept.escalations] == [
        (timedelta(0), "remind"),
        (timedelta(hours=4), "escalate_to_manager"),
        (timedelta(hours=8), "reassign"),
    ]
    demo = by_name["accept-demo-request"]
    assert demo.within < accept.within
    assert demo.applies_to({"mql_trigger": "activity"})
    assert not demo.applies_to({"mql_trigger": "threshold"})
    assert by_name["accept-within-jp"].clock.name == "tokyo"


def test_the_demo_policy_breaches_within_a_minute() -> None:
    (policy,) = load_policies(REPO / "config" / "demo" / "sla.yaml")
    assert policy.within == timedelta(seconds=20)
    assert policy.warn_at is not None and policy.escalations


def test_a_policy_file_written_by_hand_loads(tmp_path: Path) -> None:
    (policy,) = load_policies(write(tmp_path, GOOD.replace("24h", "1h30m")))
    assert policy.within == timedelta(hours=1, minutes=30)


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("90s", timedelta(seconds=90)),
        ("15m", timedelta(minutes=15)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("1.5h", timedelta(hours=1, minutes=30)),
        ("2d", timedelta(days=2)),
        ("1w", timedelta(weeks=1)),
        ("5400", timedelta(hours=1, minutes=30)),  # a bare number is seconds
    ],
)
def test_durations_follow_the_one_grammar_of_every_handoff_file(
    tmp_path: Path, written: str, expected: timedelta
) -> None:
    text = GOOD.replace("within: 24h", f"within: {written}")
    text += "    escalations:\n      - action: remind\n"
    text += f"      - after: {written}\n        action: reassign\n"
    (policy,) = load_policies(write(tmp_path, text))
    assert policy.within == expected
    assert [step.after for step in policy.escalations] == [timedelta(0), expected]


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
    assert '"1h30m", "1.5h"' in error.message  # the hint shows the grammar


def test_a_zero_or_negative_duration_is_refused_at_its_line(tmp_path: Path) -> None:
    for written in ("0s", "-5m"):
        error = fails(write(tmp_path, GOOD.replace("within: 24h", f"within: {written}")))
        assert (error.line, error.key) == (6, "policies[0].within")


def test_an_unknown_key_is_refused_rather_than_ignored(tmp_path: Path) -> None:
    error = fails(write(tmp_path, GOOD + "    escalate_after: 2h\n"))
    assert (error.line, error.key) == (7, "policies[0].escalate_after")


def test_a_missing_key_names_the_policy_that_lacks_it(tmp_path: Path) -> None:
    error = fails(write(tmp_path, GOOD.replace("    within: 24h\n", "")))
    assert (error.line, error.key) == (2, "policies[0].within")


def test_an_unconditional_policy_before_another_of_its_stage_is_refused(tmp_path: Path) -> None:
    second = GOOD.split("\n", 1)[1].replace("accept-within", "accept-fast").replace("24h", "1h")
    error = fails(write(tmp_path, GOOD + second))
    assert error.key == "policies"
    assert "can never apply" in error.message


def test_policies_of_one_stage_must_start_and_stop_on_the_same_events(tmp_path: Path) -> None:
    second = (
        GOOD.split("\n", 1)[1]
        .replace("accept-within", "accept-fast")
        .replace(", handoff.lead.reassigned]", "]")
    )
    error = fails(
        write(
            tmp_path,
            GOOD.replace("    stage: accept\n", "    stage: accept\n    when: {pool: emea}\n")
            + second,
        )
    )
    assert "must start and stop on the same events" in error.message


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


FULL = """\
stages: [renewal_call]
calendars:
  tokyo:
    timezone: Asia/Tokyo
    hours:
      mon-fri: ["09:00-12:00", "13:00-18:00"]
    holidays: JP
    days_off: [2026-12-29]
policies:
  - name: accept-demo
    stage: accept
    when: 'mql_trigger == "activity" && fit_grade in ["A", "B"]'
    starts_on: handoff.lead.assigned
    stops_on: [handoff.lead.accepted]
    within: 1h
    calendar: tokyo
    warn_at: 50%
    escalations:
      - action: remind
      - after: 4h
        action: escalate_to_manager
  - name: accept-jp
    stage: accept
    when: {team: inside-sales-jp, pool: [apac, japan]}
    starts_on: handoff.lead.assigned
    stops_on: [handoff.lead.accepted]
    within: 24h
  - name: renewal
    stage: renewal_call
    starts_on: handoff.lead.dispositioned
    stops_on: [handoff.lead.contacted]
    within: 2d
"""


def test_calendars_conditions_chains_and_custom_stages_load(tmp_path: Path) -> None:
    demo, jp, renewal = load_policies(write(tmp_path, FULL))
    assert demo.clock.name == "tokyo" and demo.warn_at == 0.5
    assert demo.applies_to({"mql_trigger": "activity", "fit_grade": "B"})
    assert not demo.applies_to({"mql_trigger": "activity", "fit_grade": "C"})
    assert jp.applies_to({"team": "inside-sales-jp", "pool": "japan"})
    assert not jp.applies_to({"team": "inside-sales-jp", "pool": "emea"})
    assert renewal.stage == "renewal_call"


@pytest.mark.parametrize(
    ("change", "line", "key", "words"),
    [
        (
            ("calendar: tokyo", "calendar: osaka"),
            16,
            "policies[0].calendar",
            "unknown calendar 'osaka'",
        ),
        (
            ("stage: renewal_call", "stage: renewal"),
            29,
            "policies[2].stage",
            "unknown stage 'renewal'",
        ),
        (
            ("timezone: Asia/Tokyo", "timezone: Asia/Tokio"),
            4,
            "calendars.tokyo.timezone",
            "unknown time zone",
        ),
        (("holidays: JP", "holidays: XX"), 3, "calendars.tokyo", "unknown holiday country 'XX'"),
        (('"13:00-18:00"', '"13:00-25:00"'), 5, "calendars.tokyo.hours", "is not a shift"),
        (('"13:00-18:00"', '"11:00-18:00"'), 5, "calendars.tokyo.hours", "overlap"),
        (("mon-fri:", "mon-fry:"), 5, "calendars.tokyo.hours", "is not a weekday"),
        (("within: 1h\n", "within: 1 hour\n"), 15, "policies[0].within", "is not a duration"),
        (("warn_at: 50%", "warn_at: 150%"), 17, "policies[0].warn_at", "between 0% and 100%"),
        (
            ("action: remind", "action: shout"),
            19,
            "policies[0].escalations[0].action",
            "unknown action",
        ),
        (
            ("after: 4h", "after: 4 hours"),
            20,
            "policies[0].escalations[1].after",
            "is not a duration",
        ),
        (("fit_grade in", "fit_grad in"), 12, "policies[0].when", "unknown variable fit_grad"),
        (
            ("{team: inside-sales-jp,", "{squad: inside-sales-jp,"),
            24,
            "policies[1].when",
            "unknown condition key",
        ),
    ],
)
def test_each_calendar_and_chain_mistake_names_its_line_and_key(
    tmp_path: Path, change: tuple[str, str], line: int, key: str, words: str
) -> None:
    assert change[0] in FULL
    error = fails(write(tmp_path, FULL.replace(change[0], change[1], 1)))
    assert (error.line, error.key) == (line, key)
    assert words in error.message


def test_escalation_steps_out_of_order_are_refused(tmp_path: Path) -> None:
    error = fails(
        write(
            tmp_path,
            FULL.replace(
                "after: 4h",
                "after: 5h\n        action: remind\n      - after: 4h",
                1,
            ),
        )
    )
    assert error.key == "policies[0].escalations"
    assert "in the order they happen" in error.message


def test_the_japanese_office_example_of_the_docs_holds_for_the_shipped_calendar() -> None:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    tokyo = ZoneInfo("Asia/Tokyo")
    jp = {p.name: p for p in load_policies(REPO / "config" / "sla.yaml")}["accept-within-jp"]
    friday = datetime(2026, 11, 20, 17, 0, tzinfo=tokyo)
    due = jp.clock.add(friday, jp.within)
    assert due == datetime(2026, 11, 26, 17, 0, tzinfo=tokyo)
    assert jp.clock.add(due, jp.escalations[1].after) == datetime(2026, 11, 27, 12, 0, tzinfo=tokyo)
    year_end = datetime(2026, 12, 28, 17, 0, tzinfo=tokyo)
    assert jp.clock.add(year_end, timedelta(hours=2)) == datetime(2027, 1, 4, 10, 0, tzinfo=tokyo)
