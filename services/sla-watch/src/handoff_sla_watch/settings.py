"""sla-watch settings: its identity, the shared HANDOFF_ variables, the port, the policy file,
the firer's nap."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from pydantic import Field

from handoff.durations import SettingDuration
from handoff.service import ServiceSpec
from handoff.settings import HandoffSettings

# The service's identity for the CLI and the dev stack (the `handoff.services` entry point).
SERVICE = ServiceSpec(
    name="sla-watch", schema="sla", package="handoff_sla_watch", default_port=8103
)


class SlaSettings(HandoffSettings):
    http_port: int = Field(
        default=8103, ge=1, le=65535, validation_alias="HANDOFF_SLA_WATCH_HTTP_PORT"
    )
    sla_config_file: Path | None = Field(default=None, validation_alias="HANDOFF_SLA_CONFIG_FILE")
    # The firer sleeps until the next due time but never longer than this, so a timer
    # armed by another instance is noticed within this many seconds.
    max_sleep_seconds: float = Field(
        default=1.0, gt=0, le=60, validation_alias="HANDOFF_SLA_MAX_SLEEP_SECONDS"
    )

    # Timers fired per transaction: larger drains a backlog faster, smaller holds locks shorter.
    fire_batch: int = Field(
        default=1000, ge=1, le=10_000, validation_alias="HANDOFF_SLA_FIRE_BATCH"
    )

    # Connections that drain a backlog together (each fires its own batches; SKIP LOCKED).
    fire_workers: int = Field(default=2, ge=1, le=16, validation_alias="HANDOFF_SLA_FIRE_WORKERS")

    # Met and cancelled timers stay visible in GET /v1/leads/{lead_id}/sla this long, then go.
    timer_retention: SettingDuration = Field(
        default=timedelta(days=30),
        ge=timedelta(hours=1),
        validation_alias="HANDOFF_SLA_TIMER_RETENTION",
    )

    @property
    def policies_path(self) -> Path:
        return self.sla_config_file or self.config_dir / "sla.yaml"
