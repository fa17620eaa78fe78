"""A PostgreSQL server from the distribution's `postgresql` package, run as production runs one:
its own cluster on a free port, started by an unprivileged user, and a password-checked role
that owns the application's database but is not a superuser."""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

# PostgreSQL refuses to run as root; as root the cluster belongs to this user instead.
UNPRIVILEGED_USER = "nobody"
ROLE = DATABASE = "handoff"


def server_bin() -> Path | None:
    """The newest installed server's bin folder (Debian: /usr/lib/postgresql/<major>/bin)."""
    found = [p.parent for p in Path("/usr/lib/postgresql").glob("*/bin/initdb")]
    versions = [p for p in found if p.parent.name.isdigit()]
    return max(versions, key=lambda p: int(p.parent.name)) if versions else None


def missing() -> str | None:
    """Why the server cannot run here, or None."""
    if server_bin() is None:
        return "Debian's postgresql package is not installed (`make test-tools` installs it)"
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "running as root without runuser to start PostgreSQL as an unprivileged user"
    return None


@dataclass
class DebianPostgres:
    port: int
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="handoff-pg-")))
    password: str = field(default_factory=lambda: secrets.token_urlsafe(18))

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def log(self) -> Path:
        return self.root / "postgres.log"

    @property
    def database_url(self) -> str:
        """The application's URL: the non-superuser role over TCP, with its password."""
        return f"postgresql+asyncpg://{ROLE}:{self.password}@127.0.0.1:{self.port}/{DATABASE}"

    def _as_owner(self, argv: list[str]) -> subprocess.CompletedProcess[str]:
        if os.geteuid() == 0:
            argv = ["runuser", "-u", UNPRIVILEGED_USER, "--", *argv]
        return subprocess.run(
            argv, capture_output=True, text=True, timeout=90, check=False, cwd=self.root
        )

    def _check(self, argv: list[str]) -> None:
        run = self._as_owner(argv)
        assert run.returncode == 0, f"{argv[0]} failed:\n{run.stdout}{run.stderr}"

    def start(self) -> None:
        bin_dir = server_bin()
        assert bin_dir is not None
        if os.geteuid() == 0:
            user = pwd.getpwnam(UNPRIVILEGED_USER)
            os.chown(self.root, user.pw_uid, user.pw_gid)
        # Local (socket) connections trust the cluster's owner, for creating the role; over
        # TCP every role must give its password, as on a production server.
        self._check(
            [
                str(bin_dir / "initdb"),
                "--pgdata",
                str(self.data),
                "--username",
                "postgres",
                "--auth-local",
                "trust",
                "--auth-host",
                "scram-sha-256",
                "--encoding",
                "UTF8",
                "--no-sync",
            ]
        )
        # fsync off: nothing here crashes the server, and the machine's disk is shared.
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} -c fsync=off"
        self._check(
            [
                str(bin_dir / "pg_ctl"),
                "--pgdata",
                str(self.data),
                "--log",
                str(self.log),
                "--options",
                options,
                "--wait",
                "--timeout",
                "60",
                "start",
            ]
        )
        self._check(
            [
                str(bin_dir / "psql"),
                "--host",
                str(self.root),
                "--port",
                str(self.port),
                "--username",
                "postgres",
                "--dbname",
                "postgres",
                "--set",
                "ON_ERROR_STOP=1",
                "--command",
                f"CREATE ROLE {ROLE} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE "
                f"PASSWORD '{self.password}'",
                "--command",
                f"CREATE DATABASE {DATABASE} OWNER {ROLE}",
            ]
        )

    def stop(self) -> None:
        bin_dir = server_bin()
        if bin_dir is not None and (self.data / "postmaster.pid").exists():
            self._as_owner(
                [str(bin_dir / "pg_ctl"), "--pgdata", str(self.data), "--mode", "fast", "stop"]
            )
        shutil.rmtree(self.root, ignore_errors=True)
