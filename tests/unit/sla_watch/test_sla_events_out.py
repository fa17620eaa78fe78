"""Every event sla-watch emits (adapters/events_out.py) is, byte for byte, what its
`handoff.events.sla` model writes, with the CONTRACT's id; the models stay the schema."""

from __future__ import annotations

from datetime import UTC, timedelta, timezone

import pytest

from handoff.events import sla
from handoff_sla_watch.adapters import events_out
from handoff_sla_watch.domain.firing import fire
from handoff_sla_watch.domain.model import Stop, first_step_at, stop_timer
from tests.sla_reference import fired_event, met_event, started_event
from tests.unit.sla_watch.test_sla_firing import CHAIN, T0, armed


def test_the_started_event_is_its_model_with_and_without_a_warning_point() -> None:
    timer = armed()
    assert timer.started_at is not None and timer.due_at is not None
    warn_at = first_step_at(CHAIN, timer.started_at, timer.due_at)
    for warning in (warn_at, None):
        message = events_out.started(timer, warning)
        assert (message.topic, message.key) == (sla.TOPIC, b"L-1")
        assert message.value == started_event(timer, warning).to_json()


def test_the_met_event_is_its_model() -> None:
    timer = armed()
    met = stop_timer(timer, Stop("L-1", "H-1", "rep-1", T0 + timedelta(hours=1, microseconds=5)))
    assert met is not None
    message = events_out.met(met)
    assert (message.topic, message.key) == (sla.TOPIC, b"L-1")
    assert message.value == met_event(met).to_json()


@pytest.mark.parametrize("rep_id", ["rep-1", None])
def test_every_fired_step_is_its_model_absent_fields_left_out(rep_id: str | None) -> None:
    timer = armed()
    timer.rep_id = rep_id  # absent fields are left out, as the models' JSON does
    timer.lead_id = 'L-"1\\ é\n'  # escaped as JSON must
    steps = fire(timer, CHAIN, T0 + timedelta(hours=3))
    steps += fire(timer, CHAIN, T0 + timedelta(hours=13, microseconds=7))
    assert [s.kind for s in steps] == ["warning", "breached", "escalated", "escalated", "escalated"]
    for step in steps:
        value = events_out.fired(timer, step)
        assert value == fired_event(timer, step).to_json()
        assert sla.sla_event_adapter.validate_json(value) == fired_event(timer, step)


def test_moments_are_written_in_utc_whatever_offset_they_came_with() -> None:
    tokyo = timezone(timedelta(hours=9))
    timer = armed(at=T0.astimezone(tokyo))
    value = events_out.started(timer, None).value
    event = sla.sla_event_adapter.validate_json(value)
    assert isinstance(event, sla.SlaStarted)
    assert event.data.started_at == T0 and event.data.started_at.tzinfo == UTC
    assert b"+09:00" not in value and b'"started_at":"2026-11-24T01:00:00Z"' in value


def test_a_rearmed_timer_gets_new_event_ids() -> None:
    first, again = armed(), armed(at=T0 + timedelta(days=1))
    assert events_out.started(first, None).value != events_out.started(again, None).value
    step = fire(first, CHAIN, T0 + timedelta(hours=4))[0]
    assert events_out.fired_id(first, step) != events_out.fired_id(again, step)
    assert events_out.fired_id(first, step) == fired_event(first, step).id


def test_the_same_fact_encoded_twice_has_the_same_bytes() -> None:
    timer = armed()
    (step,) = fire(timer, CHAIN, T0 + timedelta(hours=3))  # the warning
    assert events_out.fired(timer, step) == events_out.fired(timer, step)
