"""The system under test and the faults done to it: services as processes, each reaching a
durable PostgreSQL through its own (normally transparent) latency proxy, and the broker."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

from handoff.db import asyncpg_dsn
from handoff.service import ServiceSpec, installed_services
from handoff_dev.broker import EmbeddedBroker
from handoff_dev.ports import free_port
from handoff_dev.processes import ServiceProcess
from handoff_dev.stack import DevStack
from tests.reliability.proxy import LatencyProxy


def soak_factor() -> int:
    """HANDOFF_SOAK scales every load (and the deadlines) up: `make soak` sets it."""
    return max(1, int(os.environ.get("HANDOFF_SOAK", "1") or 1))


def deadline(seconds: float) -> float:
    return time.monotonic() + seconds * soak_factor()


@dataclass
class Rig:
    stack: DevStack
    data_dir: Path
    proxies: dict[str, LatencyProxy] = field(default_factory=dict)
    extra: list[ServiceProcess] = field(default_factory=list)  # scaled-out instances

    # --- addresses ---

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.stack.api_key}"}

    @property
    def bootstrap(self) -> str:
        assert self.stack.bootstrap
        return self.stack.bootstrap

    @property
    def dsn(self) -> str:
        """The database itself, not through a proxy: for the checks."""
        assert self.stack.database_url
        return asyncpg_dsn(self.stack.database_url)

    def url(self, service: str) -> str:
        return self.stack.services[service].url

    @property
    def signals_url(self) -> str:
        return f"{self.url('ingress')}/v1/signals"

    @property
    def specs(self) -> dict[str, ServiceSpec]:
        return {s.name: s for s in installed_services()}

    # --- services ---

    def process(self, name: str, log_dir: Path | None = None) -> ServiceProcess:
        """A process of service `name` on a free port, its database through its proxy."""
        assert self.stack.postgres is not None
        proxy = self.proxies.get(name)
        if proxy is None:
            proxy = self.proxies[name] = LatencyProxy("127.0.0.1", self.stack.postgres.port)
            proxy.start()
        env = self.stack.service_env()
        env["HANDOFF_DATABASE_URL"] = (
            f"postgresql+asyncpg://postgres@127.0.0.1:{proxy.port}/postgres"
        )
        return ServiceProcess(self.specs[name], free_port(), env, log_dir or self.data_dir / "logs")

    def start_services(self) -> None:
        for name in self.specs:
            proc = self.stack.services[name] = self.process(name)
            proc.start()
        self.ensure_running()

    def ensure_running(self) -> None:
        """Every part up and at full speed, whatever a scenario that failed half-way left."""
        pg, broker = self.stack.postgres, self.stack.broker
        if pg is not None and (pg.process is None or pg.process.poll() is not None):
            self.start_database()
        if broker is not None and (broker.process is None or broker.process.poll() is not None):
            self.start_broker()
        for proxy in self.proxies.values():
            proxy.delay = 0.0
        for proc in list(self.extra):
            proc.stop()
            self.extra.remove(proc)
        for proc in self.stack.services.values():
            if not proc.alive():
                proc.start()
        for proc in self.stack.services.values():
            proc.wait_ready(90 * soak_factor())

    async def kill(self, service: str) -> None:
        """SIGKILL: no shutdown, no flush, no offset commit, as a crash would."""
        await asyncio.to_thread(self.stack.services[service].kill)

    async def restart(self, service: str) -> None:
        proc = self.stack.services[service]
        proc.start()
        await asyncio.to_thread(proc.wait_ready, 90 * soak_factor())

    async def add_instance(self, service: str) -> ServiceProcess:
        """One more instance in the service's consumer group, on its own port and log."""
        proc = self.process(service, self.data_dir / "logs" / f"extra-{len(self.extra)}")
        self.extra.append(proc)
        proc.start()
        await asyncio.to_thread(proc.wait_ready, 90 * soak_factor())
        return proc

    async def remove_instance(self, proc: ServiceProcess) -> None:
        await asyncio.to_thread(proc.stop)
        self.extra.remove(proc)

    # --- the database ---

    def kill_database(self) -> None:
        """SIGKILL to the postmaster and every backend at once (its process group)."""
        pg = self.stack.postgres
        assert pg is not None and pg.process is not None
        os.killpg(pg.process.pid, signal.SIGKILL)
        pg.process.wait(10)  # reaped, so its postmaster.pid names no live process

    def start_database(self) -> None:
        assert self.stack.postgres is not None
        self.stack.postgres.start()

    # --- the broker ---

    def stop_broker(self) -> None:
        assert self.stack.broker is not None
        self.stack.broker.stop()

    def start_broker(self) -> None:
        """A new in-memory broker on the same port: empty, so the topics are made again."""
        old = self.stack.broker
        assert old is not None
        self.stack.broker = EmbeddedBroker(old.port, old.log_path)
        self.stack.broker.start()
        self.stack.create_topics()

    def stop(self) -> None:
        for proc in self.extra:
            proc.stop()
        self.stack.stop()
        for proxy in self.proxies.values():
            proxy.stop()
