"""Settings base for every handoff service: environment variables with the HANDOFF_ prefix."""

from __future__ import annotations

import hashlib
import sys
from datetime import timedelta
from pathlib import Path
from typing import Literal, TypeVar

from pydantic import BaseModel, Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from handoff.durations import SettingDuration

ENV_PREFIX = "HANDOFF_"


class ApiKeyRecord(BaseModel):
    """A stored API key: only the SHA-256 of the secret, never the secret itself."""

    id: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    scopes: list[str]

    @staticmethod
    def hash_secret(secret: str) -> str:
        # Keys are 256-bit random tokens, so a fast hash is enough (no password stretching).
        return hashlib.sha256(secret.encode()).hexdigest()


class HandoffSettings(BaseSettings):
    """What every service shares; each service adds its own fields in a subclass."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5433/postgres"
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    config_dir: Path = Path("config")
    log_format: Literal["json", "console"] = "json"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    api_keys: list[ApiKeyRecord] = Field(default_factory=list)
    http_host: str = "127.0.0.1"

    # Kafka client behaviour. Tansu (the embedded broker) has neither idempotent
    # producers nor transactions, so both stay off unless switched on for real Kafka.
    kafka_enable_idempotence: bool = False
    # How long the producer holds a record for others to join its batch. Every send waits for
    # its acks (send_all), so a linger is pure delay for the relay's batches, which are already
    # whole; under load records still batch while a request to the partition is in flight.
    kafka_linger_ms: int = Field(default=0, ge=0)
    kafka_request_timeout_ms: int = Field(default=10_000, ge=100)
    kafka_session_timeout_ms: int = Field(default=10_000, ge=1_000)
    consumer_batch_max: int = Field(default=2000, ge=1)
    # About how long one consumed batch (parse and transaction) may take: a backlog is taken in
    # batches that fit, so an event behind one waits about this long, not a whole 2000-record
    # transaction. A light load never meets it (docs/running.md, "Latency: each hop's budget").
    consumer_batch_budget_ms: int = Field(default=100, ge=1, le=60_000)
    # How long the broker may hold a fetch that finds nothing new. Kafka's default is 500 ms,
    # but Tansu (the embedded broker) does not answer a waiting fetch as soon as records
    # arrive (at 500 ms a record waited 130 ms at the median, up to 240 ms); 20 ms keeps an
    # idle hop in milliseconds (within the 50 ms p99 goal of issue 14) for the cost of some
    # fifty idle fetches a second per consumer. Kafka itself answers at once when records come.
    kafka_fetch_max_wait_ms: int = Field(default=20, ge=1, le=10_000)
    consumer_max_dead_letters_in_row: int = Field(default=100, ge=1)
    # A batch whose handler raises (not a transient database or broker error) is tried this
    # many times, then split in halves until the event at fault is alone; that event goes to
    # `<topic>.dlq` and the rest of the batch is applied (docs/running.md, poison events).
    consumer_poison_attempts: int = Field(default=3, ge=1, le=100)
    consumer_poison_retry_seconds: float = Field(default=0.2, ge=0, le=60)
    # Retention (docs/running.md, bounded growth). The inbox must remember an event for
    # longer than the broker keeps it: a replay of anything older is impossible.
    inbox_retention: SettingDuration = Field(default=timedelta(days=14), ge=timedelta(hours=1))
    retention_every_seconds: float = Field(default=300.0, gt=0)
    retention_batch: int = Field(default=5000, ge=1, le=1_000_000)
    outbox_batch_size: int = Field(default=1000, ge=1)
    outbox_poll_seconds: float = Field(default=1.0, gt=0)
    outbox_retention_seconds: int = Field(default=3600, ge=0)
    # A whole request body (a batch of up to 1000 signals). One record on the broker is bounded
    # apart, by kafka_max_request_bytes: the producer refuses anything larger, so the API
    # refuses such a signal with 413 before publishing (see docs/ingress.md, "Limits").
    max_body_bytes: int = Field(default=2_000_000, ge=1024)
    kafka_max_request_bytes: int = Field(default=1_048_576, ge=65_536)
    # How long a request may take to send its whole body once a route reads it; then 408.
    body_read_timeout_seconds: float = Field(default=10.0, gt=0, le=600)


S = TypeVar("S", bound=BaseSettings)


def settings_error_line(exc: ValidationError, cls: type[BaseSettings]) -> str:
    """One line naming the environment variable at fault, for a start-up failure."""
    prefix = cls.model_config.get("env_prefix", ENV_PREFIX)
    parts = []
    aliases = {
        f.validation_alias for f in cls.model_fields.values() if isinstance(f.validation_alias, str)
    }
    for err in exc.errors():
        field = str(err["loc"][0]) if err["loc"] else "?"
        # A field with a validation alias reports the alias itself as its location.
        var = field if field in aliases else f"{prefix}{field}".upper()
        parts.append(f"{var}: {err['msg']}")
    return "invalid configuration: " + "; ".join(parts)


def load_settings(cls: type[S]) -> S:
    """Build settings or stop the process with one clear line naming the variable."""
    try:
        return cls()
    except ValidationError as exc:
        print(settings_error_line(exc, cls), file=sys.stderr)
        raise SystemExit(2) from None
