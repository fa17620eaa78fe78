"""Rescore's progress: a bar with rate and time left on a terminal (rich), or a structured log
line every few seconds when the output is a file or a pipe (a job runner, a CI log)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol, TextIO

import structlog
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from handoff.logs import redact

# A log line every this many seconds: often enough to see a long rescore move, rare enough
# that a million leads make a few dozen lines.
LOG_EVERY_SECONDS = 10.0


class Tracker(Protocol):
    def advance(self, done: int) -> None: ...
    def close(self) -> None: ...


class _Rate(ProgressColumn):
    """Leads per second, as rich measures it over the last seconds."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("- leads/s" if speed is None else f"{speed:,.0f} leads/s")


class Bar:
    """The terminal's progress bar: done/total, rate, time elapsed and time left."""

    def __init__(self, total: int, stream: TextIO) -> None:
        self._progress = Progress(
            "rescoring",
            BarColumn(),
            MofNCompleteColumn(),
            _Rate(),
            TimeElapsedColumn(),
            "elapsed,",
            TimeRemainingColumn(),
            "left",
            console=Console(file=stream),
        )
        self._task = self._progress.add_task("rescore", total=total)
        self._progress.start()

    def advance(self, done: int) -> None:
        self._progress.update(self._task, completed=done)

    def close(self) -> None:
        self._progress.stop()


class LogLines:
    """Without a terminal: `scoring.rescore.progress` every `every` seconds, one JSON line each,
    and `scoring.rescore.read` at the end."""

    def __init__(
        self,
        total: int,
        stream: TextIO,
        every: float = LOG_EVERY_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._clock = clock
        self._log = structlog.wrap_logger(
            structlog.PrintLogger(stream),
            processors=[
                structlog.processors.add_log_level,
                structlog.processors.TimeStamper(fmt="iso", utc=True),
                redact,
                structlog.processors.JSONRenderer(),
            ],
        )
        self._total = total
        self._every = every
        self._started = self._last = clock()
        self._done = 0

    def advance(self, done: int) -> None:
        self._done = done
        now = self._clock()
        if now - self._last < self._every:
            return
        self._last = now
        rate = done / max(now - self._started, 1e-9)
        left = max(self._total - done, 0) / rate if rate else None
        self._log.info(
            "scoring.rescore.progress",
            leads_done=done,
            leads_total=self._total,
            leads_per_second=round(rate),
            seconds_left=None if left is None else round(left, 1),
        )

    def close(self) -> None:
        seconds = self._clock() - self._started
        self._log.info(
            "scoring.rescore.read",
            leads_done=self._done,
            seconds=round(seconds, 2),
            leads_per_second=round(self._done / max(seconds, 1e-9)),
        )


def tracker(total: int, stream: TextIO, every: float = LOG_EVERY_SECONDS) -> Tracker:
    """A bar when `stream` is a terminal, log lines otherwise."""
    if stream.isatty():
        return Bar(total, stream)
    return LogLines(total, stream, every)
