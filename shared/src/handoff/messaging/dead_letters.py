"""What becomes a dead letter and what it looks like: the `<topic>.dlq` record, its headers,
the error text (never the values), and which failures are transient rather than poison."""

from __future__ import annotations

import re

from aiokafka import ConsumerRecord
from pydantic import ValidationError

from handoff.events import dlq_topic
from handoff.messaging.producer import Message

DLQ_HEADER_PREFIX = "handoff-dlq-"


def dead_letter(
    record: ConsumerRecord[bytes, bytes],
    error: str,
    consumer: str,
    *,
    stage: str = "parse",
    attempts: int = 1,
) -> Message:
    """The original key, value and headers, plus headers naming the error and the origin."""
    headers = (
        ("handoff-dlq-error", error[:1000].encode()),
        (
            "handoff-dlq-stage",
            stage.encode(),
        ),  # parse: the value is broken; apply: the handler failed
        ("handoff-dlq-attempts", str(attempts).encode()),
        ("handoff-dlq-topic", record.topic.encode()),
        ("handoff-dlq-partition", str(record.partition).encode()),
        ("handoff-dlq-offset", str(record.offset).encode()),
        ("handoff-dlq-consumer", consumer.encode()),
        *((k, v) for k, v in (record.headers or ()) if not k.startswith(DLQ_HEADER_PREFIX)),
    )
    return Message(dlq_topic(record.topic), record.key or b"", record.value or b"", headers)


VALUE_DROPPED = "handoff-dlq-value-dropped"


def without_value(message: Message) -> Message:
    """A dead letter too large to send: the DLQ headers alone, saying the value was left out."""
    headers = tuple((k, v) for k, v in message.headers if k.startswith(DLQ_HEADER_PREFIX))
    note = f"{len(message.value)} bytes, too large with the DLQ headers; read it at its origin"
    return Message(message.topic, message.key, b"", (*headers, (VALUE_DROPPED, note.encode())))


_EMAIL = re.compile(r"[^\s@'\"(),;:<>\[\]]+@[^\s@'\"(),;:<>\[\]]+")


def error_text(exc: BaseException) -> str:
    """What went wrong, for a log line and a DLQ header: never the values (no emails, no SQL)."""
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        # A path can hold a sender's own keys (a property named after an address).
        return _EMAIL.sub("<email>", f"{first['type']} at {where or 'value'}: {first['msg']}")
    # SQLAlchemy's text carries the statement and its parameters (emails, traits): keep only
    # the driver's own message, which names the problem, not the row.
    cause = getattr(exc, "orig", None) or exc
    message = str(cause).split("\n", 1)[0]
    return _EMAIL.sub("<email>", f"{type(cause).__name__}: {message}")[:1000]


# SQLSTATE classes and codes that say "try again", not "this row is wrong": connection
# exceptions, serialization failures and deadlocks, statement or lock timeouts, a server
# out of resources or shutting down.
_TRANSIENT_SQLSTATE_CLASSES = ("08", "40", "53", "57P", "58")
_TRANSIENT_SQLSTATES = ("55P03", "57014")


def is_transient_db_error(exc: Exception) -> bool:
    from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

    if isinstance(exc, OperationalError | InterfaceError):
        return True
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    state = getattr(exc.orig, "sqlstate", None) or ""
    return state.startswith(_TRANSIENT_SQLSTATE_CLASSES) or state in _TRANSIENT_SQLSTATES
