"""Scoring settings: the shared HANDOFF_ variables plus the port and the scoring model file."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from handoff.settings import HandoffSettings


class ScoringSettings(HandoffSettings):
    http_port: int = Field(
        default=8101, ge=1, le=65535, validation_alias="HANDOFF_SCORING_HTTP_PORT"
    )
    scoring_config_file: Path | None = Field(
        default=None, validation_alias="HANDOFF_SCORING_CONFIG_FILE"
    )
    publish_timeout_seconds: float = Field(
        default=5.0, gt=0, validation_alias="HANDOFF_SCORING_PUBLISH_TIMEOUT_SECONDS"
    )
    ingress_config_file: Path | None = Field(
        default=None, validation_alias="HANDOFF_INGRESS_CONFIG_FILE"
    )
    # One bound for the API (422), the webhooks (202, dropped and counted) and the consumer
    # (dropped and counted): a signal dated further ahead than this is a skewed clock.
    signal_max_future_seconds: float = Field(
        default=300.0, ge=0, validation_alias="HANDOFF_SIGNAL_MAX_FUTURE_SECONDS"
    )

    @property
    def model_path(self) -> Path:
        return self.scoring_config_file or self.config_dir / "scoring.yaml"

    @property
    def ingress_path(self) -> Path:
        return self.ingress_config_file or self.config_dir / "ingress.yaml"
