"""Values PostgreSQL or Python would refuse inside a handler are refused when an event is parsed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from handoff.events import routing, scoring, signals, sla
from handoff.events.envelope import parse_event
from handoff.events.values import NoNul, UtcDatetime, find_nul
from tests.factories import activity, identify, mql

OUT_OF_RANGE = ("9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00")


def _signal(**changes: Any) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(
        identify("L-1", email="ada@example.com", title="CTO").to_json()
    )
    for path, new in changes.items():
        *parents, last = path.split("__")
        node = value
        for name in parents:
            node = node[name]
        node[last] = new
    return value


def _parse(value: dict[str, Any]) -> Any:
    return parse_event(signals.signal_adapter, json.dumps(value).encode())


@pytest.mark.parametrize(
    "where",
    ["id", "source", "subject", "data__lead_id", "data__traits__email", "data__traits__title"],
)
def test_a_nul_in_any_string_of_a_signal_is_refused_naming_where(where: str) -> None:
    with pytest.raises(ValidationError) as caught:
        _parse(_signal(**{where: "x\x00y"}))
    error = caught.value.errors()[0]
    assert error["type"] == "nul_character"
    assert where.replace("__", ".") in error["msg"]


def test_a_nul_in_a_property_key_or_a_nested_list_is_refused() -> None:
    value = json.loads(activity("L-1").to_json())
    value["data"]["properties"] = {"tags": ["ok", {"deep": "a\x00"}]}
    with pytest.raises(ValidationError, match=r"data\.properties\.tags\.1\.deep"):
        _parse(value)
    value["data"]["properties"] = {"k\x00": 1}
    with pytest.raises(ValidationError, match="nul_character"):
        _parse(value)


def test_an_escaped_backslash_before_u0000_is_not_taken_for_a_nul() -> None:
    value = _signal(data__traits__title="C:\\u0000")
    assert _parse(value).data.traits.title == "C:\\u0000"


@pytest.mark.parametrize("stamp", OUT_OF_RANGE)
def test_a_timestamp_without_a_utc_value_is_refused(stamp: str) -> None:
    with pytest.raises(ValidationError) as caught:
        _parse(_signal(data__occurred_at=stamp))
    error = caught.value.errors()[0]
    assert error["type"] == "datetime_out_of_range"
    assert error["loc"][-1] == "occurred_at"


@pytest.mark.parametrize("stamp", OUT_OF_RANGE)
def test_the_envelope_time_and_downstream_timestamps_are_checked_too(stamp: str) -> None:
    with pytest.raises(ValidationError, match="datetime_out_of_range"):
        _parse(_signal(time=stamp))
    value = json.loads(mql("L-1").to_json())
    value["data"]["qualified_at"] = stamp
    with pytest.raises(ValidationError, match="datetime_out_of_range"):
        parse_event(scoring.scoring_event_adapter, json.dumps(value).encode())


def test_the_extremes_that_do_exist_in_utc_are_kept() -> None:
    assert _parse(_signal(data__occurred_at="9999-12-31T23:59:59Z")).data.occurred_at.year == 9999
    assert _parse(_signal(data__occurred_at="0001-01-01T00:00:00Z")).data.occurred_at.year == 1


def test_every_topic_module_uses_the_checked_datetime() -> None:
    # A field declared with plain AwareDatetime would let year 10000 through again.
    for module in (signals, scoring, routing, sla):
        source = Path(module.__file__ or "").read_text()
        assert "AwareDatetime" not in source, module.__name__


class _Body(BaseModel):
    name: NoNul
    at: UtcDatetime


def test_the_reusable_types_check_plain_models() -> None:
    with pytest.raises(ValidationError, match="nul_character"):
        _Body.model_validate({"name": "a\x00", "at": "2026-01-01T00:00:00Z"})
    with pytest.raises(ValidationError, match="datetime_out_of_range"):
        _Body.model_validate({"name": "a", "at": OUT_OF_RANGE[0]})
    assert find_nul({"a": [1, {"b": "ok"}]}) is None
    assert find_nul({"a": [1, {"b": "\x00"}]}) == "a.1.b"


def test_a_refused_event_never_repeats_its_values_in_the_error_text() -> None:
    value = _signal(id="x\x00")
    with pytest.raises(ValidationError) as caught:
        _parse(value)
    assert "ada@example.com" not in str(caught.value)
    bad_size = _signal(data__traits__company={"size": "ada@example.com"})
    with pytest.raises(ValidationError) as caught:
        _parse(bad_size)
    assert "ada@example.com" not in str(caught.value)
    with pytest.raises(ValidationError) as caught:
        signals.IdentifySignal(
            id="x\x00",
            source="/api",
            data=signals.IdentifyData(
                lead_id="L-1",
                occurred_at="2026-01-01T00:00:00Z",
                traits=signals.Traits(email="ada@example.com"),
            ),
        )
    assert "ada@example.com" not in str(caught.value)
