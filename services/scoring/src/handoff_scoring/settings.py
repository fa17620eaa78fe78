"""Scoring's identity (the ServiceSpec the CLI and the dev stack find through the
`handoff.services` entry point) and its settings: the shared HANDOFF_ variables plus the port,
the scoring model file and the bound on signals dated ahead."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from handoff.service import ServiceSpec
from handoff.settings import HandoffSettings

SERVICE = ServiceSpec(
    name="scoring", schema="scoring", package="handoff_scoring", default_port=8101
)


class ScoringSettings(HandoffSettings):
    http_port: int = Field(
        default=8101, ge=1, le=65535, validation_alias="HANDOFF_SCORING_HTTP_PORT"
    )
    scoring_config_file: Path | None = Field(
        default=None, validation_alias="HANDOFF_SCORING_CONFIG_FILE"
    )
    # One bound for ingress (422 from the API, dropped by the webhooks) and this consumer
    # (dropped and counted): a signal dated further ahead than this is a skewed clock.
    signal_max_future_seconds: float = Field(
        default=300.0, ge=0, validation_alias="HANDOFF_SIGNAL_MAX_FUTURE_SECONDS"
    )

    @property
    def model_path(self) -> Path:
        return self.scoring_config_file or self.config_dir / "scoring.yaml"
