"""Rescore's progress over a real database: a bar with rate and time left when stderr is a
terminal, JSON log lines when it is not; the report on stdout is the same either way."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from handoff_scoring.entrypoints import rescore
from tests.factories import activity, new_id
from tests.integration.scoring.test_scoring_handler import MODEL, apply

REPO = Path(__file__).resolve().parents[3]


class Terminal(io.StringIO):
    """What rich sees as a terminal: the output of a bar, kept for the test to read."""

    def isatty(self) -> bool:
        return True


async def _some_leads(engine: AsyncEngine) -> None:
    await apply(engine, [activity(new_id("P"), "page_view") for _ in range(3)])


async def test_on_a_terminal_rescore_shows_a_bar_with_rate_and_time_left(
    engine: AsyncEngine, database_url: str
) -> None:
    await _some_leads(engine)
    terminal = Terminal()
    report = await rescore.rescore(database_url, MODEL, dry_run=True, progress=terminal)
    shown = terminal.getvalue()
    assert f"{report.leads}/{report.leads}" in shown  # done / total, all read
    assert "leads/s" in shown and "left" in shown
    assert "scoring.rescore" not in shown  # a bar, not log lines


async def test_without_a_terminal_rescore_logs_progress_lines(
    engine: AsyncEngine, database_url: str
) -> None:
    await _some_leads(engine)
    piped = io.StringIO()
    report = await rescore.rescore(database_url, MODEL, dry_run=True, progress=piped, log_every=0.0)
    lines = [json.loads(line) for line in piped.getvalue().splitlines()]
    progress = [line for line in lines if line["event"] == "scoring.rescore.progress"]
    assert progress and progress[-1]["leads_done"] == report.leads >= 3
    assert progress[-1]["leads_total"] == report.leads
    assert {"leads_per_second", "seconds_left", "timestamp"} <= set(progress[-1])
    assert lines[-1]["event"] == "scoring.rescore.read"
    assert lines[-1]["leads_done"] == report.leads


async def test_the_cli_keeps_the_report_on_stdout_and_progress_on_stderr(
    engine: AsyncEngine, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    await _some_leads(engine)
    model_file = REPO / "config" / "scoring.yaml"
    assert await asyncio.to_thread(rescore.main, str(model_file), database_url, True) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("rescored ") and "dry run: nothing was written" in captured.out
    assert "scoring.rescore" not in captured.out
    assert '"event": "scoring.rescore.read"' in captured.err
