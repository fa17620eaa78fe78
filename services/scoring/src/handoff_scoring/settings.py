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

    @property
    def model_path(self) -> Path:
        return self.scoring_config_file or self.config_dir / "scoring.yaml"

    @property
    def ingress_path(self) -> Path:
        return self.ingress_config_file or self.config_dir / "ingress.yaml"
