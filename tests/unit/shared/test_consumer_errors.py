"""What the consumer retries for ever, what it counts as poison, and what its errors say."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError, OperationalError, StatementError

from handoff.events import signals
from handoff.events.envelope import parse_event
from handoff.messaging.dead_letters import error_text, is_transient_db_error


class _PgError(Exception):
    def __init__(self, message: str, sqlstate: str) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


def _db_error(message: str, sqlstate: str) -> DBAPIError:
    return DBAPIError(
        "INSERT INTO routing.handoffs VALUES ($1)",
        ("ada@example.com",),
        _PgError(message, sqlstate),
    )


@pytest.mark.parametrize(
    "sqlstate",
    ["40001", "40P01", "57014", "55P03", "57P01", "08006", "53300"],
)
def test_deadlocks_timeouts_and_lost_connections_are_transient(sqlstate: str) -> None:
    assert is_transient_db_error(_db_error("try again", sqlstate))


@pytest.mark.parametrize("sqlstate", ["22021", "22P05", "23505", "22008", "42P01"])
def test_a_row_the_database_refuses_is_not_transient(sqlstate: str) -> None:
    assert not is_transient_db_error(_db_error("refused", sqlstate))


def test_a_handler_bug_is_not_transient_but_a_dropped_connection_is() -> None:
    assert not is_transient_db_error(ValueError("year 10000 is out of range"))
    assert is_transient_db_error(OperationalError("SELECT 1", {}, ConnectionResetError()))


def test_the_error_text_names_the_driver_error_without_the_statement_or_its_values() -> None:
    text = error_text(_db_error('invalid byte sequence for encoding "UTF8": 0x00', "22021"))
    assert text == '_PgError: invalid byte sequence for encoding "UTF8": 0x00'
    wrapped = StatementError("bad", "INSERT ...", {"email": "ada@example.com"}, ValueError("x"))
    assert error_text(wrapped) == "ValueError: x"


def test_an_email_in_an_error_message_is_masked() -> None:
    text = error_text(KeyError("no lead for ada.lovelace@example.com here"))
    assert "example.com" not in text and "<email>" in text


def test_a_key_named_after_an_address_is_masked_in_a_validation_error() -> None:
    raw = (
        b'{"specversion":"1.0","id":"e","source":"/s","type":"handoff.signal.activity",'
        b'"data":{"lead_id":"L","activity_type":"page_view","occurred_at":"2026-01-01T00:00:00Z",'
        b'"properties":{"ada@example.com":"\\u0000"}}}'
    )
    with pytest.raises(ValidationError) as caught:
        parse_event(signals.signal_adapter, raw)
    text = error_text(caught.value)
    assert "nul_character" in text and "example.com" not in text
