"""Routing settings: the shared HANDOFF_ variables plus the port and the roster file, and the
service's identity for the CLI and the dev stack."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr

from handoff.service import ServiceSpec
from handoff.settings import HandoffSettings

SERVICE = ServiceSpec(
    name="routing", schema="routing", package="handoff_routing", default_port=8102
)


class RoutingSettings(HandoffSettings):
    http_port: int = Field(
        default=8102, ge=1, le=65535, validation_alias="HANDOFF_ROUTING_HTTP_PORT"
    )
    routing_config_file: Path | None = Field(
        default=None, validation_alias="HANDOFF_ROUTING_CONFIG_FILE"
    )

    # An MQL should reach its rep within 100 ms (issue 5), and the embedded broker does not
    # answer a waiting fetch as soon as records arrive: routing asks it to wait only briefly.
    kafka_fetch_max_wait_ms: int = Field(default=20, ge=1, le=10_000)

    queue_sweep_seconds: float = Field(
        default=5.0, gt=0, le=3600, validation_alias="HANDOFF_ROUTING_QUEUE_SWEEP_SECONDS"
    )

    # One-click accept / reject links (notify sends them): the keys shared with notify,
    # newest first; during a rotation the new and the old key. Empty: links are refused.
    one_click_secrets: list[SecretStr] = Field(
        default_factory=list, validation_alias="HANDOFF_ONE_CLICK_SECRETS"
    )
    # How long a queue page link stays valid, and an action link minted on that page.
    one_click_ttl_seconds: int = Field(
        default=3 * 86_400, ge=60, validation_alias="HANDOFF_ONE_CLICK_TTL_SECONDS"
    )

    @property
    def config_path(self) -> Path:
        return self.routing_config_file or self.config_dir / "routing.yaml"
