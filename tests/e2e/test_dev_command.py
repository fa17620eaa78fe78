"""`handoff dev` as a user runs it, a real process tree: it restarts what crashes, stops
everything on one Ctrl-C (even delivered twice, as `uv run` does), and its children do not
outlive it when it is killed outright."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
import pytest

from handoff.service import ServiceSpec, installed_services
from handoff_dev.ports import free_port, port_is_free

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.timeout(420)


def _ppid_and_state(pid: int) -> tuple[int, str] | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    return int(fields[1]), fields[0]


def descendants(root: int) -> set[int]:
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (info := _ppid_and_state(int(entry.name))):
            parents[int(entry.name)] = info[0]
    found: set[int] = set()
    frontier = {root}
    while frontier:
        frontier = {pid for pid, ppid in parents.items() if ppid in frontier} - found
        found |= frontier
    return found


def running(pid: int) -> bool:
    """Alive and not a zombie (a zombie has exited; only its parent's bookkeeping is left)."""
    info = _ppid_and_state(pid)
    return info is not None and info[1] != "Z"


def cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


def wait_until(what: str, check: object, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.2)
    raise AssertionError(f"not within {timeout:.0f}s: {what}")


@dataclass
class Dev:
    process: subprocess.Popen[bytes]
    output: Path
    pg_port: int
    broker_port: int
    service_ports: dict[str, int]

    @property
    def text(self) -> str:
        return self.output.read_text(errors="replace")

    def child(self, match: str) -> int:
        """The pid of `handoff dev`'s child whose command line contains `match`."""
        for pid in descendants(self.process.pid):
            info = _ppid_and_state(pid)
            mine = info is not None and info[0] == self.process.pid and info[1] != "Z"
            if mine and any(match in part for part in cmdline(pid)):
                return pid
        raise AssertionError(f"no child of handoff dev runs {match}")

    def answers(self, port: int, path: str) -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{port}{path}", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def all_ports(self) -> list[int]:
        return [self.pg_port, self.broker_port, *self.service_ports.values()]


@pytest.fixture
def dev() -> Iterator[Dev]:
    """`handoff dev` (no demo) on free ports, in its own process group, as a terminal runs it."""
    # Not pytest's tmp_path: its 0700 parent keeps out the user PostgreSQL runs as under root.
    tmp_path = Path(tempfile.mkdtemp(prefix="handoff-dev-test-"))
    services: list[ServiceSpec] = installed_services()
    ports = {spec.name: free_port() for spec in services}
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("HANDOFF_DATABASE_URL", "HANDOFF_KAFKA_BOOTSTRAP_SERVERS")
    }
    env.update({spec.port_env: str(ports[spec.name]) for spec in services})
    pg_port, broker_port = free_port(), free_port()
    output = tmp_path / "console.txt"
    with open(output, "wb") as out:
        process = subprocess.Popen(
            [
                *(sys.executable, "-m", "handoff.cli", "dev", "--partitions", "2"),
                *("--pg-port", str(pg_port), "--broker-port", str(broker_port)),
                *("--data-dir", str(tmp_path / "data"), "--config-dir", str(REPO / "config")),
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    running_dev = Dev(process, output, pg_port, broker_port, ports)
    try:
        wait_until(
            "handoff dev is running",
            lambda: "handoff is running" in running_dev.text or process.poll() is not None,
            240,
        )
        assert process.poll() is None, running_dev.text
        yield running_dev
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        shutil.rmtree(tmp_path, ignore_errors=True)


def settings(port: int, *names: str) -> list[str]:
    async def show() -> list[str]:
        conn = await asyncpg.connect(host="127.0.0.1", port=port, user="postgres")
        try:
            return [await conn.fetchval(f"SHOW {name}") for name in names]
        finally:
            await conn.close()

    return asyncio.run(show())


def test_dev_restarts_what_crashes_and_one_ctrl_c_stops_everything(dev: Dev) -> None:
    # Durable by default: a crash of PostgreSQL loses no acknowledged work.
    assert settings(dev.pg_port, "fsync", "synchronous_commit", "full_page_writes") == ["on"] * 3
    # Ingress is started and listed first: it is where signals go, and the curl hint says so.
    listed = [line.split()[0] for line in dev.text.splitlines() if "   (docs http" in line]
    assert listed[0] == "ingress" and "scoring" in listed, dev.text
    ingress_url = f"http://127.0.0.1:{dev.service_ports['ingress']}"
    assert f"curl -s -X POST {ingress_url}/v1/signals" in dev.text

    name, port = next(iter(dev.service_ports.items()))
    package = next(s.package for s in installed_services() if s.name == name)

    # A service killed outright comes back; nothing else is stopped.
    victim = dev.child(f"{package}")
    broker_before, postmaster = dev.child("tansu"), dev.child("postgres")
    os.kill(victim, signal.SIGKILL)
    wait_until(f"{name} is back", lambda: f"{name} is back" in dev.text, 90)
    assert dev.child(package) != victim
    assert dev.answers(port, "/healthz")
    assert dev.child("tansu") == broker_before  # the broker (and its topics) kept running
    assert dev.child("postgres") == postmaster
    assert "was killed by SIGKILL" in dev.text

    # PostgreSQL killed outright: noticed, started again (over its stale postmaster.pid),
    # and every service ready again.
    os.kill(postmaster, signal.SIGKILL)
    wait_until("PostgreSQL is back", lambda: "PostgreSQL is back" in dev.text, 90)
    assert dev.child("postgres") != postmaster
    for service, service_port in dev.service_ports.items():
        wait_until(f"{service} ready", lambda p=service_port: dev.answers(p, "/readyz"), 90)

    # The broker killed outright: started again with its topics, and said so.
    os.kill(broker_before, signal.SIGKILL)
    wait_until("the broker is back", lambda: "the broker is back" in dev.text, 90)
    assert "every topic, record and consumer offset it held is lost" in dev.text

    # One Ctrl-C, which the terminal sends to the whole group and `uv run` repeats.
    tree = descendants(dev.process.pid)
    assert len(tree) > 2 + len(dev.service_ports)  # services, broker, postmaster and backends
    os.killpg(dev.process.pid, signal.SIGINT)
    stopped_from = time.monotonic()
    time.sleep(0.3)
    os.killpg(dev.process.pid, signal.SIGINT)
    code = dev.process.wait(timeout=30)
    took = time.monotonic() - stopped_from + 0.3

    assert took < 10, f"stopping took {took:.1f}s"
    assert code == 0, dev.text
    assert "Traceback" not in dev.text
    assert "handoff dev: stopped" in dev.text
    assert [pid for pid in tree if running(pid)] == []
    assert [p for p in dev.all_ports() if not port_is_free(p)] == []


def test_children_exit_when_dev_is_killed_outright(dev: Dev) -> None:
    tree = descendants(dev.process.pid)
    assert len(tree) > 2 + len(dev.service_ports)
    dev.process.send_signal(signal.SIGKILL)
    dev.process.wait()
    wait_until("every child has exited", lambda: not any(running(pid) for pid in tree), 20)
    wait_until("every port is free", lambda: all(port_is_free(p) for p in dev.all_ports()), 10)
