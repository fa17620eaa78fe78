"""The services as child processes: start, wait for /readyz, stop cleanly (or kill, in tests)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import httpx

from handoff.service import ServiceSpec
from handoff_dev.children import Child, dies_with_parent
from handoff_dev.errors import DevStackError
from handoff_dev.ports import require_free


class ServiceProcess(Child):
    def __init__(self, spec: ServiceSpec, port: int, env: Mapping[str, str], log_dir: Path) -> None:
        super().__init__()
        self.spec, self.port = spec, port
        self.env = {**os.environ, **env, spec.port_env: str(port)}
        self.log_path = log_dir / f"{spec.name}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        require_free(
            self.port, f"{self.spec.name} HTTP", f"stop what holds it or set {self.spec.port_env}"
        )
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as logfile:
            self.process = subprocess.Popen(
                [sys.executable, "-m", self.spec.package],
                env=self.env,
                stdout=logfile,
                stderr=subprocess.STDOUT,
                # Its own session: a terminal's Ctrl-C reaches `handoff dev` only, which stops
                # the children in order. SIGTERM if `handoff dev` dies without doing so.
                start_new_session=True,
                preexec_fn=dies_with_parent(signal.SIGTERM),
            )

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                raise DevStackError(f"{self.spec.name} exited at start: {self.last_log_line()}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise DevStackError(
            f"{self.spec.name} was not ready within {timeout:.0f}s ({self.readiness()}); "
            f"its last log line: {self.last_log_line()}; see {self.log_path}"
        )

    def readiness(self) -> str:
        """What /readyz says now (its body names what is down), for an error message."""
        try:
            return httpx.get(f"{self.url}/readyz", timeout=1.0).text[:300]
        except httpx.HTTPError as exc:
            return f"/readyz did not answer: {type(exc).__name__}"

    async def is_ready(self, client: httpx.AsyncClient) -> bool:
        """One /readyz probe, for the supervisor's loop."""
        try:
            return (await client.get(f"{self.url}/readyz", timeout=1.0)).status_code == 200
        except httpx.HTTPError:
            return False

    def last_log_line(self) -> str:
        try:
            lines = [
                ln for ln in self.log_path.read_text(errors="replace").splitlines() if ln.strip()
            ]
        except OSError:
            return "(no log)"
        return lines[-1] if lines else "(no log)"

    def kill(self) -> None:
        """SIGKILL: no shutdown at all, as a crash would."""
        if self.alive():
            assert self.process is not None
            self.process.kill()
            self.process.wait(5)
