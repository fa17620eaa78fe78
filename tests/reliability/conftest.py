"""The reliability suite's own stack: a durable PostgreSQL, a broker and every service as a process.

Its own, not the session's: scenarios kill the database and stop the broker, and the
other layers must not feel that. It always starts embedded PostgreSQL and broker, even when
HANDOFF_DATABASE_URL or HANDOFF_KAFKA_BOOTSTRAP_SERVERS are set: it must be able to kill them.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest
import yaml

from handoff.db import asyncpg_dsn
from handoff_dev.ports import free_port
from handoff_dev.postgres import EmbeddedPostgres
from handoff_dev.stack import DevStack
from tests.ingress_senders import WEBHOOK_ENV
from tests.reliability.harness import RESULTS, until
from tests.reliability.rig import Rig

REPO = Path(__file__).resolve().parents[2]

# Demo requests (an instant MQL) get an hour, and the checks accept each through routing's
# API: one handoff.sla.met each. Every other assignment gets 2 s and a reminder at the
# breach, a timer that falls due within the scenario. No warning: the firer rightly skips a
# warning whose breach is due too, so under load their number depends on timing.
SLA_YAML = """
policies:
  - name: accept-demo-request
    stage: accept
    when: {mql_trigger: activity}
    starts_on: handoff.lead.assigned
    stops_on: [handoff.lead.accepted, handoff.lead.rejected, handoff.lead.reassigned]
    within: 1h
  - name: accept-within
    stage: accept
    starts_on: handoff.lead.assigned
    stops_on: [handoff.lead.accepted, handoff.lead.rejected, handoff.lead.reassigned]
    within: 2s
    escalations:
      - action: remind
"""

# The genuine sender of the flood scenario posts far below this rate and the flood far above
# it; the burst lets the 50 copies of one delivery in at once.
WEBHOOK_RATE = {"per_second": 10, "burst": 60}


async def _durability(url: str) -> list[str]:
    conn = await until(lambda: _connect(url), "PostgreSQL to accept connections", 30)
    try:
        return [await conn.fetchval(f"SHOW {name}") for name in ("fsync", "synchronous_commit")]
    finally:
        await conn.close()


async def _connect(url: str) -> asyncpg.Connection | None:
    try:
        return await asyncpg.connect(asyncpg_dsn(url))
    except (OSError, asyncpg.CannotConnectNowError):
        return None  # still starting up


def _ingress_yaml() -> str:
    config = yaml.safe_load((REPO / "config" / "ingress.yaml").read_text())
    config["sources"]["standard"]["rate_limit"] = WEBHOOK_RATE
    return yaml.safe_dump(config)


# Package scope: stopped once the scenarios are done, so its services do not keep running
# (and taking CPU) while the other layers' tests run after it on the same worker.
@pytest.fixture(scope="package")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    data_dir = Path(tempfile.mkdtemp(prefix="handoff-reliability-"))
    (data_dir / "sla.yaml").write_text(SLA_YAML)
    (data_dir / "ingress.yaml").write_text(_ingress_yaml())
    stack = DevStack(data_dir, pg_port=free_port(), broker_port=free_port(), partitions=4)
    # Durable, whatever the dev default: the crash scenario is about acknowledged work.
    stack.postgres = EmbeddedPostgres(data_dir / "pg", stack.pg_port, durable=True)
    stack.extra_env.update(
        {
            "HANDOFF_CONFIG_DIR": str(REPO / "config"),
            "HANDOFF_SLA_CONFIG_FILE": str(data_dir / "sla.yaml"),
            "HANDOFF_INGRESS_CONFIG_FILE": str(data_dir / "ingress.yaml"),
            "HANDOFF_KAFKA_SESSION_TIMEOUT_MS": "6000",
            "HANDOFF_OUTBOX_POLL_SECONDS": "0.5",
            **WEBHOOK_ENV,
        }
    )
    rig = Rig(stack, data_dir)
    try:
        stack.database_url = stack.postgres.start()
        assert asyncio.run(_durability(stack.database_url)) == ["on", "on"]
        stack.start_infrastructure()
        stack.migrate()
        stack.create_topics()
        stack.ensure_api_key()
        rig.start_services()
        yield rig
    finally:
        rig.stop()
        if RESULTS.rows:
            RESULTS.path = tmp_path_factory.getbasetemp() / "reliability-results.json"
            RESULTS.path.write_text(json.dumps(RESULTS.rows, indent=2))
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture
async def http(rig: Rig) -> AsyncIterator[httpx.AsyncClient]:
    """A client with the API key, for a scenario that starts with every service up (a
    scenario that failed half-way may have left one dead)."""
    await asyncio.to_thread(rig.ensure_running)
    async with httpx.AsyncClient(headers=rig.headers, timeout=30) as client:
        yield client
