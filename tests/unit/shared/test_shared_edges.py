"""The shared package's edges: envelope parsing, config errors, settings errors, log redaction."""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from handoff.config_file import ConfigError, load_yaml
from handoff.events import signals
from handoff.events.envelope import UnknownEventType, fact_id, parse_event
from handoff.http.problem import install_problem_handlers
from handoff.logs import redact
from handoff.settings import load_settings
from handoff_scoring.settings import ScoringSettings
from tests.factories import activity


def test_an_event_survives_the_round_trip_through_json() -> None:
    event = activity("L-1", "pricing_page_view", url="/pricing")
    parsed = parse_event(signals.signal_adapter, event.to_json())
    assert parsed == event
    assert parsed.data.properties == {"url": "/pricing"}


def test_a_well_formed_event_of_an_unknown_type_is_skipped_not_dead_lettered() -> None:
    raw = activity("L-1").to_json().replace(b"handoff.signal.activity", b"handoff.signal.future")
    with pytest.raises(UnknownEventType):
        parse_event(signals.signal_adapter, raw)


@pytest.mark.parametrize("raw", [b"not json", b"{}", b'{"type": "handoff.signal.activity"}'])
def test_a_broken_value_raises_a_validation_error(raw: bytes) -> None:
    with pytest.raises(ValidationError):
        parse_event(signals.signal_adapter, raw)


def test_fact_ids_are_stable_for_the_same_fact() -> None:
    assert fact_id("mql", "L-1", "1") == fact_id("mql", "L-1", "1")
    assert fact_id("mql", "L-1", "1") != fact_id("mql", "L-1", "2")


class Sample(BaseModel):
    model_config = ConfigDict(extra="forbid")
    threshold: int = Field(gt=0)
    rules: list[dict[str, int]] = []


def test_a_config_error_names_file_line_and_key(tmp_path: Path) -> None:
    path = tmp_path / "scoring.yaml"
    path.write_text("# comment\nthreshold: 10\nrules:\n  - a: 1\n  - a: nope\n")
    with pytest.raises(ConfigError) as err:
        load_yaml(path, Sample)
    assert str(err.value).startswith(f"{path}:5: rules[1].a:")


def test_a_config_error_names_an_unknown_key(tmp_path: Path) -> None:
    path = tmp_path / "scoring.yaml"
    path.write_text("threshold: 10\nthreshhold: 3\n")
    with pytest.raises(ConfigError) as err:
        load_yaml(path, Sample)
    assert str(err.value) == f"{path}:2: threshhold: unknown key; did you mean 'threshold'?"


def test_broken_yaml_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "scoring.yaml"
    path.write_text("threshold: 10\nrules: [\n")
    with pytest.raises(ConfigError) as err:
        load_yaml(path, Sample)
    assert err.value.line is not None and "not valid YAML" in str(err.value)


def test_a_bad_environment_variable_stops_the_process_with_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HANDOFF_SCORING_HTTP_PORT", "eighty")
    with pytest.raises(SystemExit) as stop:
        load_settings(ScoringSettings)
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert err.startswith("invalid configuration: HANDOFF_SCORING_HTTP_PORT:")


def test_logs_never_carry_emails_or_keys() -> None:
    out = redact(
        None,
        "info",
        {
            "event": "x",
            "note": "mail aiko@example.co.jp now",
            "authorization": "Bearer hk_dev_x",
            "traits": {"email": "a@b.com", "title": "CTO"},
        },
    )
    assert out["note"] == "mail <email> now"
    assert out["authorization"] == "<redacted>"
    assert out["traits"] == {"email": "<redacted>", "title": "CTO"}


async def test_a_client_that_hangs_up_mid_body_is_not_logged_as_an_error() -> None:
    app = FastAPI()
    install_problem_handlers(app)

    @app.post("/echo")
    async def echo(request: Request) -> dict[str, int]:
        return {"size": len(await request.body())}

    sent: list[MutableMapping[str, Any]] = []
    incoming: Iterator[dict[str, object]] = iter(
        [{"type": "http.request", "body": b"{", "more_body": True}, {"type": "http.disconnect"}]
    )

    async def receive() -> dict[str, object]:
        return next(incoming)

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/echo",
        "headers": [],
        "query_string": b"",
        "http_version": "1.1",
        "scheme": "http",
        "server": ("t", 80),
        "root_path": "",
    }
    await app(scope, receive, send)  # an unhandled error would raise here
    assert sent[0]["status"] == 499
