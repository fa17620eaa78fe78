"""insight settings: the shared HANDOFF_ variables, the port, its config file and routing's taxonomy."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from handoff.service import ServiceSpec
from handoff.settings import HandoffSettings

# The service's identity for the CLI and the dev stack (the `handoff.services` entry point).
SERVICE = ServiceSpec(
    name="insight", schema="insight", package="handoff_insight", default_port=8104
)


class InsightSettings(HandoffSettings):
    http_port: int = Field(
        default=8104, ge=1, le=65535, validation_alias="HANDOFF_INSIGHT_HTTP_PORT"
    )
    insight_config_file: Path | None = Field(
        default=None, validation_alias="HANDOFF_INSIGHT_CONFIG_FILE"
    )
    # The reason codes' English and Japanese labels are read from routing's file (not its code).
    routing_config_file: Path | None = Field(
        default=None, validation_alias="HANDOFF_ROUTING_CONFIG_FILE"
    )

    @property
    def config_path(self) -> Path:
        return self.insight_config_file or self.config_dir / "insight.yaml"

    @property
    def routing_path(self) -> Path:
        return self.routing_config_file or self.config_dir / "routing.yaml"
