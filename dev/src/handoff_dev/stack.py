"""The whole stack on one machine: infrastructure (embedded or given by URL), schemas, topics, services."""

from __future__ import annotations

import asyncio
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from handoff import migrations
from handoff.http.auth import SCOPES, new_api_key
from handoff.service import ServiceSpec, installed_services
from handoff.settings import ApiKeyRecord
from handoff.topics import ensure_topics
from handoff_dev.broker import EmbeddedBroker
from handoff_dev.errors import DevStackError
from handoff_dev.postgres import EmbeddedPostgres
from handoff_dev.processes import ServiceProcess


@dataclass
class DevStack:
    data_dir: Path
    pg_port: int = 5433
    broker_port: int = 9092
    partitions: int = 12
    # The embedded PostgreSQL with fsync and synchronous_commit on; False only for throwaway
    # databases (a crash may lose acknowledged work). See EmbeddedPostgres.
    durable: bool = True
    database_url: str | None = None
    bootstrap: str | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    postgres: EmbeddedPostgres | None = None
    broker: EmbeddedBroker | None = None
    services: dict[str, ServiceProcess] = field(default_factory=dict)
    api_key: str = ""
    api_key_record: ApiKeyRecord | None = None

    @classmethod
    def from_env(cls, data_dir: Path, **kwargs: object) -> DevStack:
        """Use HANDOFF_DATABASE_URL / HANDOFF_KAFKA_BOOTSTRAP_SERVERS when set."""
        return cls(
            data_dir=data_dir,
            database_url=os.environ.get("HANDOFF_DATABASE_URL") or None,
            bootstrap=os.environ.get("HANDOFF_KAFKA_BOOTSTRAP_SERVERS") or None,
            **kwargs,  # type: ignore[arg-type]
        )

    def start_infrastructure(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        try:
            if self.database_url is None:
                self.postgres = EmbeddedPostgres(
                    self.data_dir / "pg", self.pg_port, durable=self.durable
                )
                self.database_url = self.postgres.start()
            if self.bootstrap is None:
                self.broker = EmbeddedBroker(self.broker_port, self.data_dir / "broker.log")
                self.bootstrap = self.broker.start()
        except BaseException:
            self.stop()
            raise

    def migrate(self) -> None:
        assert self.database_url is not None
        for spec in installed_services():
            try:
                migrations.upgrade(spec, self.database_url)
            except Exception as exc:
                raise DevStackError(f"migrating {spec.name} failed: {exc}") from None

    def create_topics(self) -> list[str]:
        assert self.bootstrap is not None
        try:
            return asyncio.run(ensure_topics(self.bootstrap, self.partitions))
        except Exception as exc:
            raise DevStackError(f"creating topics on {self.bootstrap} failed: {exc}") from None

    def ensure_api_key(self) -> str:
        """The development key: kept in .handoff/api-key, handed to services only as a hash."""
        path = self.data_dir / "api-key"
        if path.exists():
            self.api_key = path.read_text().strip()
            self.api_key_record = ApiKeyRecord(
                id="dev", sha256=ApiKeyRecord.hash_secret(self.api_key), scopes=list(SCOPES)
            )
        else:
            self.api_key, self.api_key_record = new_api_key("dev", SCOPES)
            path.write_text(self.api_key + "\n")
            path.chmod(0o600)
        return self.api_key

    def service_env(self) -> dict[str, str]:
        assert self.database_url and self.bootstrap and self.api_key_record
        return {
            # One ingress process: readable logs, and a kill -9 in the tests stops all of it.
            "HANDOFF_INGRESS_WORKERS": os.environ.get("HANDOFF_INGRESS_WORKERS", "1"),
            "HANDOFF_DATABASE_URL": self.database_url,
            "HANDOFF_KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            "HANDOFF_API_KEYS": json.dumps([self.api_key_record.model_dump()]),
            **self.extra_env,
        }

    def start_services(
        self, ports: dict[str, int] | None = None, only: list[str] | None = None
    ) -> None:
        env = self.service_env()
        specs: list[ServiceSpec] = [
            s for s in installed_services() if only is None or s.name in only
        ]
        for spec in specs:
            port = (ports or {}).get(spec.name) or int(
                os.environ.get(spec.port_env, spec.default_port)
            )
            proc = ServiceProcess(spec, port, env, self.data_dir / "logs")
            self.services[spec.name] = proc
            proc.start()
        for proc in self.services.values():
            proc.wait_ready()

    def stop(self, timeout: float = 9.0) -> None:
        """Stop everything within about `timeout` seconds: the services first, all at once (they
        drain into the broker and database), then the broker and PostgreSQL together."""
        deadline = time.monotonic() + timeout
        for proc in self.services.values():
            proc.terminate()
        for proc in self.services.values():
            proc.wait_stopped(deadline - time.monotonic() - 3.0)
        infrastructure = [c for c in (self.broker, self.postgres) if c is not None]
        for child in infrastructure:
            child.terminate()
        for child in infrastructure:
            child.wait_stopped(deadline - time.monotonic())

    def anything_alive(self) -> bool:
        children = [*self.services.values(), self.broker, self.postgres]
        return any(c is not None and c.alive() for c in children)

    def kill(self) -> None:
        """Everything at once, no draining, without waiting: for a second Ctrl-C."""
        for proc in self.services.values():
            if proc.alive():
                assert proc.process is not None
                proc.process.kill()
        if self.broker is not None:
            self.broker.kill()
        if self.postgres is not None:
            self.postgres.kill()
