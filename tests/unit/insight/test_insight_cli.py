"""`handoff insight rebuild` on the command line: it needs the database and the broker."""

from __future__ import annotations

import pytest

from handoff.cli import main


def test_rebuild_without_a_database_or_broker_says_what_to_set(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HANDOFF_DATABASE_URL", raising=False)
    monkeypatch.delenv("HANDOFF_KAFKA_BOOTSTRAP_SERVERS", raising=False)
    assert main(["insight", "rebuild"]) == 1
    assert "HANDOFF_KAFKA_BOOTSTRAP_SERVERS" in capsys.readouterr().err


def test_rebuild_is_listed_under_insight(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["insight", "--help"])
    assert "rebuild" in capsys.readouterr().out
