"""Test databases cloned from one migrated template: a fresh, fully migrated database in milliseconds.

Every service's migrations run once per session, into the template. Each integration test module
then gets `CREATE DATABASE ... TEMPLATE` of its own, so no module sees another's rows, outbox
lock or due timers, and the order the modules run in cannot matter. The e2e services get one
more clone for the session. On a server of your own (HANDOFF_DATABASE_URL) the role needs
CREATEDB; the databases are named with a per-run suffix and dropped at the end.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import asyncpg
from sqlalchemy.engine import make_url

from handoff.db import asyncpg_dsn

MAX_NAME = 63  # PostgreSQL's identifier limit


@dataclass(frozen=True)
class TemplateDatabase:
    """A migrated database nobody connects to, and the server it lives on."""

    server_url: str  # the database to connect to for CREATE/DROP DATABASE
    name: str

    def url(self, database: str) -> str:
        return (
            make_url(self.server_url).set(database=database).render_as_string(hide_password=False)
        )

    def name_for(self, label: str) -> str:
        """A database name for `label` (a test module, "e2e"), unique to this run."""
        run = self.name.removesuffix("_template")
        return f"{run}_{re.sub(r'[^a-z0-9_]', '_', label.lower())}"[:MAX_NAME]

    async def clone(self, label: str) -> str:
        """A new database, a copy of the template; returns its URL."""
        database = self.name_for(label)
        await _execute(self.server_url, f'CREATE DATABASE "{database}" TEMPLATE "{self.name}"')
        return self.url(database)

    async def drop(self, url: str) -> None:
        database = make_url(url).database
        await _execute(self.server_url, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')

    async def drop_template(self) -> None:
        await _execute(self.server_url, f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


def create_template(server_url: str, migrate: Callable[[str], None]) -> TemplateDatabase:
    """Create a database on the server of `server_url`, run `migrate(url)` on it, then close it to
    connections: CREATE DATABASE ... TEMPLATE refuses a template anyone is connected to."""
    template = TemplateDatabase(server_url, f"handoff_{uuid.uuid4().hex[:8]}_template")
    asyncio.run(_execute(server_url, f'CREATE DATABASE "{template.name}"'))
    migrate(template.url(template.name))
    asyncio.run(
        _execute(server_url, f'ALTER DATABASE "{template.name}" WITH ALLOW_CONNECTIONS false')
    )
    return template


async def _execute(server_url: str, statement: str) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(server_url))
    try:
        await conn.execute(statement)
    finally:
        await conn.close()
