"""Integration fixtures: each test module runs on a database of its own, a clone of the migrated
template (tests/databases.py), so it sees no other module's rows, outbox lock or due timers."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from handoff.db import create_engine
from tests.databases import TemplateDatabase


@pytest.fixture(scope="module")
async def database_url(
    template_database: TemplateDatabase, request: pytest.FixtureRequest
) -> AsyncIterator[str]:
    url = await template_database.clone(request.module.__name__.rsplit(".", 1)[-1])
    yield url
    await template_database.drop(url)


@pytest.fixture(scope="module")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    eng = create_engine(database_url)
    yield eng
    await eng.dispose()


@pytest.fixture
async def own_engine(template_database: TemplateDatabase) -> AsyncIterator[AsyncEngine]:
    """A database of the test's own, for a test that its module's background work would disturb
    (a module-scoped service app publishes and marks outbox rows while it runs)."""
    url = await template_database.clone(f"test_{uuid.uuid4().hex[:12]}")
    eng = create_engine(url)
    yield eng
    await eng.dispose()
    await template_database.drop(url)


@pytest.fixture
def own_database(database_url: str) -> Iterator[str]:
    """An empty database of the test's own (no schema at all), for a migration test that fills
    it as an older release left it and upgrades. A synchronous fixture: Alembic runs its own
    event loop."""
    name = f"empty_{uuid.uuid4().hex[:12]}"
    # CREATE/DROP DATABASE run outside a transaction; each asyncio.run has its own loop.
    admin = create_async_engine(database_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)

    async def run(statement: str) -> None:
        async with admin.connect() as conn:
            await conn.execute(text(statement))

    asyncio.run(run(f"CREATE DATABASE {name}"))
    try:
        yield make_url(database_url).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(run(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        asyncio.run(admin.dispose())
