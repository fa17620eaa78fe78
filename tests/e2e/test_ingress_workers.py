"""Ingress as production runs it: HANDOFF_INGRESS_WORKERS processes sharing one port.

Copies of one delivery sent at once are published once whichever worker takes them, SIGTERM
stops every worker with no traceback, and a supervisor killed outright takes its workers along.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from handoff.service import installed_services
from handoff_dev.ports import free_port
from handoff_dev.processes import ServiceProcess
from handoff_dev.stack import DevStack
from tests.ingress_senders import WEBHOOK_ENV, standard_request

WORKERS = 2


def workers_of(pid: int) -> list[int]:
    """The supervisor's worker processes (uvicorn also starts a resource tracker: not a worker)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(c) for c in children if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes()]


def webhook_counts(exposition: str) -> dict[str, float]:
    """handoff_webhook_requests_total of the standard source, by outcome."""
    return {
        sample.labels["outcome"]: sample.value
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
        if sample.name == "handoff_webhook_requests_total"
        and sample.labels.get("source") == "standard"
    }


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    status = Path(f"/proc/{pid}/status").read_text()
    return "State:\tZ" in status


def start_ingress(stack: DevStack, config_dir: Path, tmp_path: Path) -> ServiceProcess:
    spec = next(s for s in installed_services() if s.name == "ingress")
    env = {
        **stack.service_env(),
        **WEBHOOK_ENV,
        "HANDOFF_CONFIG_DIR": str(config_dir),
        "HANDOFF_INGRESS_WORKERS": str(WORKERS),
    }
    proc = ServiceProcess(spec, free_port(), env, tmp_path / "logs")
    proc.start()
    proc.wait_ready()
    return proc


@pytest.mark.timeout(120)
def test_workers_share_the_port_publish_copies_once_and_stop_cleanly(
    stack: DevStack, config_dir: Path, tmp_path: Path
) -> None:
    proc = start_ingress(stack, config_dir, tmp_path)
    try:
        assert proc.pid is not None
        deadline = time.monotonic() + 30
        while len(workers_of(proc.pid)) < WORKERS and time.monotonic() < deadline:
            time.sleep(0.2)
        workers = workers_of(proc.pid)
        assert len(workers) == WORKERS

        body, headers = standard_request(
            {
                "id": "workers-1",
                "lead_id": "L-workers-1",
                "type": "page_view",
                "occurred_at": "2026-11-21T10:00:00Z",
            }
        )

        async def copies() -> list[httpx.Response]:
            # Separate connections, so the kernel spreads them over the workers.
            async def one() -> httpx.Response:
                async with httpx.AsyncClient(base_url=proc.url, timeout=15) as client:
                    return await client.post("/v1/webhooks/standard", content=body, headers=headers)

            return await asyncio.gather(*(one() for _ in range(20)))

        answers = asyncio.run(copies())
        assert sorted(r.status_code for r in answers) == [200] * 19 + [202]
        assert sum(r.json()["accepted"] for r in answers) == 1
        # Each scrape sums every worker's counters, whichever worker answers it.
        for _ in range(4):
            assert webhook_counts(httpx.get(f"{proc.url}/metrics", timeout=10).text) == {
                "accepted": 1.0,
                "duplicate": 19.0,
            }
    finally:
        proc.terminate()
        proc.wait_stopped(15)
    assert proc.exit_code() == 0
    assert all(gone(w) for w in workers)
    log = proc.log_path.read_text()
    assert "Traceback" not in log
    assert log.count('"service.stopped"') == WORKERS


@pytest.mark.timeout(120)
def test_a_supervisor_killed_outright_takes_its_workers_along(
    stack: DevStack, config_dir: Path, tmp_path: Path
) -> None:
    proc = start_ingress(stack, config_dir, tmp_path)
    assert proc.pid is not None
    deadline = time.monotonic() + 30
    while len(workers_of(proc.pid)) < WORKERS and time.monotonic() < deadline:
        time.sleep(0.2)
    workers = workers_of(proc.pid)
    assert len(workers) == WORKERS
    proc.kill()
    deadline = time.monotonic() + 15
    while not all(gone(w) for w in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    left = [w for w in workers if not gone(w)]
    for w in left:  # never leave a worker holding the port when this fails
        os.kill(w, signal.SIGKILL)
    assert left == []


@pytest.mark.timeout(120)
def test_ctrl_c_in_a_terminal_stops_the_supervisor_and_every_worker_without_a_traceback(
    stack: DevStack, config_dir: Path, tmp_path: Path
) -> None:
    proc = start_ingress(stack, config_dir, tmp_path)
    assert proc.pid is not None and proc.process is not None
    deadline = time.monotonic() + 30
    while len(workers_of(proc.pid)) < WORKERS and time.monotonic() < deadline:
        time.sleep(0.2)
    workers = workers_of(proc.pid)
    # A terminal's Ctrl-C signals the whole foreground process group: supervisor and workers.
    os.killpg(proc.pid, signal.SIGINT)
    proc.wait_stopped(15)
    assert proc.exit_code() == 0
    assert all(gone(w) for w in workers)
    log = proc.log_path.read_text()
    assert "Traceback" not in log
    assert "KeyboardInterrupt" not in log
    assert log.count('"service.stopped"') == WORKERS
