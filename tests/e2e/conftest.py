"""The services as processes (ingress first) on the session's PostgreSQL and broker, with a 3-second accept SLA."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from handoff.service import installed_services
from handoff_dev.ports import free_port
from handoff_dev.processes import ServiceProcess
from handoff_dev.stack import DevStack
from tests.ingress_senders import WEBHOOK_ENV

ACCEPT_WITHIN_SECONDS = 3
BODY_READ_TIMEOUT_SECONDS = 3  # short, so the bad-input sweep proves the 408 quickly

SLA_YAML = f"""
policies:
  - name: accept-within
    stage: accept
    starts_on: handoff.lead.assigned
    stops_on: [handoff.lead.accepted, handoff.lead.rejected, handoff.lead.reassigned]
    within: {ACCEPT_WITHIN_SECONDS}s
    warn_at: 50%
    escalations:
      - action: remind
"""


# insight judges campaigns with a small minimum so one test's handful of MQLs can raise a band.
INSIGHT_YAML = """
window: 30d
evaluate_every: 2s
groups: [overall, campaign]
bands:
  - name: accept_sla_missed
    metric: sla_compliance_accept
    below: 90%
    min_samples: 4
whatif_min_decided: 2
"""


@dataclass
class System:
    stack: DevStack
    ingress: ServiceProcess
    scoring: ServiceProcess
    routing: ServiceProcess
    sla: ServiceProcess
    insight: ServiceProcess

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.stack.api_key}"}


# Package scope: the services stop once the e2e tests are done, so they never consume (into
# their own database) the events other layers' tests publish on the shared broker.
@pytest.fixture(scope="package")
def system(
    stack: DevStack, config_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[System]:
    sla_file = tmp_path_factory.mktemp("e2e") / "sla.yaml"
    sla_file.write_text(SLA_YAML)
    insight_file = sla_file.with_name("insight.yaml")
    insight_file.write_text(INSIGHT_YAML)
    stack.extra_env.update(
        {
            "HANDOFF_CONFIG_DIR": str(config_dir),
            "HANDOFF_SLA_CONFIG_FILE": str(sla_file),
            "HANDOFF_INSIGHT_CONFIG_FILE": str(insight_file),
            "HANDOFF_KAFKA_SESSION_TIMEOUT_MS": "6000",
            "HANDOFF_OUTBOX_POLL_SECONDS": "0.5",
            "HANDOFF_BODY_READ_TIMEOUT_SECONDS": str(BODY_READ_TIMEOUT_SECONDS),
            "HANDOFF_RETENTION_EVERY_SECONDS": "1",  # so tests see the pruners at work
            **WEBHOOK_ENV,  # test secrets, so the webhook sources are enabled
        }
    )
    # A free port for every installed service (notify, insight, ...), never a fixed default.
    ports = {spec.name: free_port() for spec in installed_services()}
    stack.start_services(ports=ports)
    try:
        yield System(
            stack,
            stack.services["ingress"],
            stack.services["scoring"],
            stack.services["routing"],
            stack.services["sla-watch"],
            stack.services["insight"],
        )
    finally:
        for proc in stack.services.values():
            proc.stop()
        stack.services.clear()


@pytest.fixture
async def http(system: System) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(headers=system.headers, timeout=15) as client:
        yield client
