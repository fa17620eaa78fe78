"""Ingress settings: the shared HANDOFF_ variables plus the port, ingress.yaml and publish wait;
and the service's identity for the CLI and the dev stack (`SERVICE`)."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field

from handoff.service import ServiceSpec
from handoff.settings import HandoffSettings

SERVICE = ServiceSpec(
    name="ingress", schema="ingress", package="handoff_ingress", default_port=8100
)


class IngressSettings(HandoffSettings):
    http_port: int = Field(
        default=SERVICE.default_port, ge=1, le=65535, validation_alias="HANDOFF_INGRESS_HTTP_PORT"
    )
    # Worker processes sharing the HTTP port, each with its own engine, producer and delivery
    # desk (the delivery table is what they share). 0: one per core this process may use.
    # `handoff dev` and the tests run 1.
    http_workers: int = Field(default=0, ge=0, le=64, validation_alias="HANDOFF_INGRESS_WORKERS")
    ingress_config_file: Path | None = Field(
        default=None, validation_alias="HANDOFF_INGRESS_CONFIG_FILE"
    )
    # The scoring name still works: the routes came from scoring, and so did deployments' env.
    publish_timeout_seconds: float = Field(
        default=5.0,
        gt=0,
        validation_alias=AliasChoices(
            "HANDOFF_INGRESS_PUBLISH_TIMEOUT_SECONDS", "HANDOFF_SCORING_PUBLISH_TIMEOUT_SECONDS"
        ),
    )
    # One bound for the API (422), the webhooks (202, dropped and counted) and scoring's
    # consumer (dropped and counted): a signal dated further ahead than this is a skewed clock.
    signal_max_future_seconds: float = Field(
        default=300.0, ge=0, validation_alias="HANDOFF_SIGNAL_MAX_FUTURE_SECONDS"
    )

    @property
    def ingress_path(self) -> Path:
        return self.ingress_config_file or self.config_dir / "ingress.yaml"
