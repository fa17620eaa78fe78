"""The production path, as deploy/compose.yaml and deploy/k8s run it: Compose's `setup` command
(`handoff migrate`, `handoff topics`), then every service's own command (`python -m
handoff_<service>`) configured only by HANDOFF_ variables read from the Compose file and the
image's ENV, against the distribution's PostgreSQL server (not the embedded one) with a role that
is not a superuser. A signal posted to the public route comes out as an MQL and an assignment.

The test replaces only addresses and secrets: the database URL, the broker, the API keys, the
HTTP host and ports, and the config folder's path (the image copies config/ to /app/config).
The broker is the embedded one, so the idempotent producer the files switch on is switched off
(it has none). It is a broker of this module's own: the services join the same consumer groups
and topics as the other end-to-end tests' services, and sharing a broker would mix the two.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from handoff.events import routing, scoring
from handoff.http.auth import new_api_key
from handoff.service import installed_services
from handoff_dev.broker import EmbeddedBroker
from handoff_dev.children import dies_with_parent
from handoff_dev.ports import free_port
from tests.deploy.debian_postgres import ROLE, DebianPostgres, missing
from tests.deploy.files import REPO, compose_services, process_environment
from tests.factories import new_id
from tests.integration.kafka_helpers import collect

# Five services importing at once take a while on two busy cores; the whole module is about
# half a minute on a quiet machine.
pytestmark = [
    pytest.mark.skipif(missing() is not None, reason=str(missing())),
    pytest.mark.timeout(360),
]

READY_WITHIN_SECONDS = 180


@dataclass
class Production:
    postgres: DebianPostgres
    bootstrap: str
    urls: dict[str, str]  # by compose service name
    api_key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}


def tail(path: Path, lines: int = 30) -> str:
    return (
        "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""
    )


def wait_ready(urls: dict[str, str], procs: dict[str, subprocess.Popen[bytes]], logs: Path) -> None:
    deadline = time.monotonic() + READY_WITHIN_SECONDS
    waiting = dict(urls)
    said = dict.fromkeys(urls, "no answer")
    while waiting and time.monotonic() < deadline:
        for name, url in list(waiting.items()):
            assert procs[name].poll() is None, f"{name} exited:\n{tail(logs / f'{name}.log')}"
            try:
                resp = httpx.get(f"{url}/readyz", timeout=2)
            except httpx.HTTPError as exc:
                said[name] = repr(exc)
                continue
            said[name] = resp.text
            if resp.status_code == 200:
                del waiting[name]
        time.sleep(0.2)
    assert not waiting, "not ready: " + "; ".join(
        f"{n} ({said[n]}):\n{tail(logs / f'{n}.log', 5)}" for n in waiting
    )


@pytest.fixture(scope="module")
def production(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Production]:
    work = tmp_path_factory.mktemp("production")  # the services' working folder and logs
    postgres = DebianPostgres(free_port())
    broker = EmbeddedBroker(free_port(), work / "broker.log")
    procs: dict[str, subprocess.Popen[bytes]] = {}
    try:
        postgres.start()
        bootstrap = broker.start()
        api_key, record = new_api_key("deploy-test", ["signals:write", "read"])
        replace = {
            "HANDOFF_DATABASE_URL": postgres.database_url,
            "HANDOFF_KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "HANDOFF_KAFKA_ENABLE_IDEMPOTENCE": "false",
            "HANDOFF_API_KEYS": json.dumps([record.model_dump()]),
            "HANDOFF_HTTP_HOST": "127.0.0.1",
            "HANDOFF_CONFIG_DIR": str(REPO / "config"),
        }
        compose = compose_services()
        setup = subprocess.run(
            compose["setup"].command,
            env=process_environment(compose["setup"], replace),
            cwd=work,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        assert setup.returncode == 0, f"setup failed:\n{setup.stdout}{setup.stderr[-3000:]}"

        by_module = {s.module: s for s in compose.values() if s.module}
        urls = {}
        for spec in installed_services():
            service = by_module[spec.package]
            port = free_port()
            env = process_environment(service, {**replace, spec.port_env: str(port)})
            with open(work / f"{service.name}.log", "wb") as log:
                procs[service.name] = subprocess.Popen(
                    service.command,
                    env=env,
                    cwd=work,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    preexec_fn=dies_with_parent(signal.SIGTERM),  # gone if pytest is killed
                )
            urls[service.name] = f"http://127.0.0.1:{port}"
        wait_ready(urls, procs, work)
        yield Production(postgres, bootstrap, urls, api_key)
    finally:
        for proc in procs.values():
            proc.send_signal(signal.SIGTERM)
        for proc in procs.values():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        broker.stop()
        postgres.stop()


def signal_of(lead: str, kind: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": new_id("e"),
        "lead_id": lead,
        "type": kind,
        "occurred_at": "2026-11-21T10:00:00Z",
        **extra,
    }


async def test_a_signal_comes_out_as_an_mql_and_an_assignment(production: Production) -> None:
    async with httpx.AsyncClient(headers=production.headers, timeout=15) as http:
        # The first service in pipeline order that serves the public signals route: ingress,
        # where installed (urls keep installed_services' order).
        paths = {
            name: (await http.get(f"{url}/openapi.json")).json()["paths"]
            for name, url in production.urls.items()
        }
        public = next(production.urls[n] for n, p in paths.items() if "/v1/signals" in p)
        lead = new_id()
        traits = {"title": "本部長", "company": {"name": "Sakura", "size": 300, "country": "JP"}}
        resp = await http.post(
            f"{public}/v1/signals",
            json={
                "signals": [
                    signal_of(lead, "identify", traits=traits),
                    signal_of(lead, "pricing_page_view"),
                    signal_of(lead, "demo_request"),
                ]
            },
        )
        assert resp.status_code == 202, resp.text

    def events(records: list[Any], adapter: Any, kind: type) -> list[Any]:
        return [e for e in (adapter.validate_json(r.value) for r in records) if isinstance(e, kind)]

    mqls = events(
        await collect(
            production.bootstrap,
            scoring.TOPIC,
            lambda rs: bool(events(rs, scoring.scoring_event_adapter, scoring.LeadMql)),
            keys={lead.encode()},
        ),
        scoring.scoring_event_adapter,
        scoring.LeadMql,
    )
    assert len(mqls) == 1 and mqls[0].data.lead_id == lead
    assigned = events(
        await collect(
            production.bootstrap,
            routing.TOPIC,
            lambda rs: bool(events(rs, routing.routing_event_adapter, routing.LeadAssigned)),
            keys={lead.encode()},
        ),
        routing.routing_event_adapter,
        routing.LeadAssigned,
    )
    assert len(assigned) == 1 and assigned[0].data.mql_id == mqls[0].data.mql_id


async def test_the_services_run_as_a_role_that_is_no_superuser(production: Production) -> None:
    conn = await asyncpg.connect(production.postgres.database_url.replace("+asyncpg", ""))
    try:
        row = await conn.fetchrow(
            "SELECT rolsuper, rolcreatedb, rolcreaterole FROM pg_roles WHERE rolname = $1", ROLE
        )
        owners = await conn.fetch(
            "SELECT nspname, pg_get_userbyid(nspowner) AS owner FROM pg_namespace"
            " WHERE nspname = ANY($1::text[])",
            [spec.schema for spec in installed_services()],
        )
    finally:
        await conn.close()
    assert row is not None and not any(row.values())
    # Every service's schema exists, made by `handoff migrate` as that role.
    assert {r["nspname"]: r["owner"] for r in owners} == {
        spec.schema: ROLE for spec in installed_services()
    }
