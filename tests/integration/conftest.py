"""Integration fixtures: each test module runs on a database of its own, a clone of the migrated
template (tests/databases.py), so it sees no other module's rows, outbox lock or due timers."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

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
