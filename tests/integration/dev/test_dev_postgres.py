"""The embedded PostgreSQL after a crash: started again over the dead postmaster's leftovers,
with every committed row (durable by default)."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from handoff_dev.ports import free_port
from handoff_dev.postgres import EmbeddedPostgres


@pytest.fixture
def pg() -> Iterator[EmbeddedPostgres]:
    # Not pytest's tmp_path: its 0700 parent keeps out the user PostgreSQL runs as under root.
    data = Path(tempfile.mkdtemp(prefix="handoff-pg-test-"))
    server = EmbeddedPostgres(data / "pg", free_port())
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(data, ignore_errors=True)


def sql(port: int, statement: str) -> object:
    async def run() -> object:
        conn = await asyncpg.connect(host="127.0.0.1", port=port, user="postgres")
        try:
            return await conn.fetchval(statement)
        finally:
            await conn.close()

    return asyncio.run(run())


def test_a_killed_postmaster_starts_again_with_its_committed_rows(pg: EmbeddedPostgres) -> None:
    pg.start()
    assert sql(pg.port, "SHOW synchronous_commit") == "on"
    sql(pg.port, "CREATE TABLE acknowledged AS SELECT generate_series(1, 1000) AS n")
    dead = pg.pid
    assert dead is not None

    os.kill(dead, signal.SIGKILL)
    pg.start()  # before: "lock file postmaster.pid already exists" (the dead one, unreaped)

    assert pg.pid != dead
    assert not Path(f"/proc/{dead}").exists()  # reaped, not a zombie
    assert sql(pg.port, "SELECT count(*) FROM acknowledged") == 1000
