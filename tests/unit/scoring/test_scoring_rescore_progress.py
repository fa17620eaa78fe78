"""Rescore's progress without a database: which kind it picks, and what a log line says."""

from __future__ import annotations

import io
import json

from handoff_scoring.entrypoints.progress import Bar, LogLines, tracker


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_gets_a_bar_and_a_pipe_gets_log_lines() -> None:
    bar = tracker(10, Terminal())
    try:
        assert isinstance(bar, Bar)
    finally:
        bar.close()
    assert isinstance(tracker(10, io.StringIO()), LogLines)


def test_a_progress_line_says_how_far_how_fast_and_how_long_is_left() -> None:
    out = io.StringIO()
    now = iter([100.0, 105.0, 110.0])  # started; 250 read 5 s later; closed 5 s after that
    lines = LogLines(1000, out, every=0.0, clock=lambda: next(now))
    lines.advance(250)
    lines.close()
    progress, done = [json.loads(line) for line in out.getvalue().splitlines()]
    assert progress["event"] == "scoring.rescore.progress" and progress["level"] == "info"
    assert progress["leads_done"] == 250 and progress["leads_total"] == 1000
    assert progress["leads_per_second"] == 50 and progress["seconds_left"] == 15.0
    assert done == done | {"event": "scoring.rescore.read", "seconds": 10.0, "leads_per_second": 25}


def test_log_lines_wait_for_their_interval() -> None:
    out = io.StringIO()
    lines = LogLines(1000, out, every=3600.0)
    lines.advance(10)
    lines.advance(20)
    assert out.getvalue() == ""  # nothing before the interval has passed
    lines.close()
    (done,) = [json.loads(line) for line in out.getvalue().splitlines()]
    assert done["event"] == "scoring.rescore.read" and done["leads_done"] == 20
