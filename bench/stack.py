"""The embedded PostgreSQL and broker a benchmark runs on, started, migrated, and gone after."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from handoff_dev.ports import free_port
from handoff_dev.stack import DevStack


@contextlib.contextmanager
def embedded_stack(*, topics: bool = False) -> Iterator[DevStack]:
    """A stack of the benchmark's own on free ports (or the HANDOFF_ URLs), every schema
    migrated, the topics made when asked; stopped and its data removed on the way out."""
    data_dir = Path(tempfile.mkdtemp(prefix="handoff-bench-"))
    stack = DevStack.from_env(data_dir, pg_port=free_port(), broker_port=free_port())
    try:
        stack.start_infrastructure()
        stack.migrate()
        if topics:
            stack.create_topics()
        yield stack
    finally:
        stack.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
