"""notify settings: the shared HANDOFF_ variables, the port, the config file, delivery knobs,
SMTP, and the one-click link secret it shares with routing."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr

from handoff.service import ServiceSpec
from handoff.settings import HandoffSettings

# The service's identity for the CLI and the dev stack (the `handoff.services` entry point).
SERVICE = ServiceSpec(name="notify", schema="notify", package="handoff_notify", default_port=8105)


class NotifySettings(HandoffSettings):
    http_port: int = Field(
        default=8105, ge=1, le=65535, validation_alias="HANDOFF_NOTIFY_HTTP_PORT"
    )
    notify_config_file: Path | None = Field(
        default=None, validation_alias="HANDOFF_NOTIFY_CONFIG_FILE"
    )
    # The worker naps until the next retry is due but never longer than this, so a delivery
    # queued by another instance is picked up within this many seconds.
    max_sleep_seconds: float = Field(
        default=1.0, gt=0, le=60, validation_alias="HANDOFF_NOTIFY_MAX_SLEEP_SECONDS"
    )
    # How long a new-lead notice waits for its SLA start (to name the due time) before it
    # goes without one; the start follows the assignment within milliseconds when an
    # accept-stage policy applies, so this only delays notices of handoffs without one.
    new_lead_grace_seconds: float = Field(
        default=5.0, ge=0, le=300, validation_alias="HANDOFF_NOTIFY_NEW_LEAD_GRACE_SECONDS"
    )
    # Deliveries in flight at once in this process, over all endpoints.
    max_in_flight: int = Field(
        default=200, ge=1, le=5000, validation_alias="HANDOFF_NOTIFY_MAX_IN_FLIGHT"
    )
    # A claimed delivery is someone else's to retry after this long (a crashed instance).
    lease_seconds: float = Field(
        default=60.0, ge=5, le=3600, validation_alias="HANDOFF_NOTIFY_LEASE_SECONDS"
    )
    smtp_host: str = Field(default="127.0.0.1", validation_alias="HANDOFF_NOTIFY_SMTP_HOST")
    smtp_port: int = Field(default=25, ge=1, le=65535, validation_alias="HANDOFF_NOTIFY_SMTP_PORT")
    smtp_sender: str = Field(
        default="handoff <handoff@localhost>", validation_alias="HANDOFF_NOTIFY_SMTP_SENDER"
    )
    smtp_starttls: bool = Field(default=False, validation_alias="HANDOFF_NOTIFY_SMTP_STARTTLS")
    smtp_username: str | None = Field(default=None, validation_alias="HANDOFF_NOTIFY_SMTP_USERNAME")
    smtp_password: SecretStr | None = Field(
        default=None, validation_alias="HANDOFF_NOTIFY_SMTP_PASSWORD"
    )
    # Where a rep's browser reaches routing, for the Accept / Reject links in notices.
    link_base_url: str = Field(
        default="http://127.0.0.1:8102", validation_alias="HANDOFF_NOTIFY_LINK_BASE_URL"
    )
    # The one-click link keys, shared with routing (the same variable): newest first; during
    # a rotation both the new and the old key, so links already sent keep working.
    one_click_secrets: list[SecretStr] = Field(
        default_factory=list, validation_alias="HANDOFF_ONE_CLICK_SECRETS"
    )
    one_click_ttl_seconds: int = Field(
        default=3 * 86_400, ge=60, validation_alias="HANDOFF_ONE_CLICK_TTL_SECONDS"
    )

    # Consume handoff.insight.v1 (funnel alerts): unset follows whether the shared package has
    # its events module (the insight service is new); true or false decides.
    consume_insight: bool | None = Field(
        default=None, validation_alias="HANDOFF_NOTIFY_CONSUME_INSIGHT"
    )

    @property
    def config_path(self) -> Path:
        return self.notify_config_file or self.config_dir / "notify.yaml"
