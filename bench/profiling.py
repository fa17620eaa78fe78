"""Where a benchmark's process spends its time: cProfile around one run, summed by library.

The summary is the closing argument for a goal not met: it shows which single cost remains
(our code, pydantic, SQLAlchemy, asyncpg, aiokafka, or the event loop waiting on PostgreSQL
and the broker). Own time per function (tottime) is summed by the package its file is in.
"""

from __future__ import annotations

import cProfile
import pstats
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# (label, what a path contains), first match wins; the rest is "other Python".
GROUPS = (
    ("waiting on sockets (event loop idle: PostgreSQL, broker)", "select"),
    ("handoff_scoring (our domain and handler)", "handoff_scoring"),
    ("handoff_routing (our domain and handler)", "handoff_routing"),
    ("handoff_sla_watch (our domain and firer)", "handoff_sla_watch"),
    ("handoff shared (consumer, inbox, outbox, events)", "/shared/src/handoff/"),
    ("pydantic (event parsing and models)", "pydantic"),
    ("sqlalchemy", "sqlalchemy"),
    ("asyncpg (PostgreSQL protocol)", "asyncpg"),
    ("aiokafka (broker protocol)", "aiokafka"),
    ("msgspec / json / marshal (state encoding)", "msgspec"),
    ("asyncio (event loop)", "asyncio"),
    ("structlog (logs)", "structlog"),
)


def group_of(path: str, function: str) -> str:
    where = f"{path}:{function}"
    if "select" in function or "poll" in function:
        return GROUPS[0][0]
    for label, part in GROUPS[1:]:
        if part in where:
            return label
    if path == "~":  # a builtin: C code called from Python
        return "builtins (C code called from Python)"
    return "other Python"


@contextmanager
def profiled(out: Path | None) -> Iterator[None]:
    """Profile the block when `out` is given; print the summary and save the raw stats."""
    if out is None:
        yield
        return
    profile = cProfile.Profile()
    profile.enable()
    try:
        yield
    finally:
        profile.disable()
        profile.dump_stats(str(out))
        print(summary(pstats.Stats(profile)), flush=True)
        print(f"(raw profile: {out}; read it with `python -m pstats {out}`)", flush=True)


def summary(stats: pstats.Stats, top: int = 15) -> str:
    """Own time by library, then the functions with the most own time."""
    raw = stats.stats  # type: ignore[attr-defined]
    by_group: dict[str, float] = defaultdict(float)
    rows = []
    total = 0.0
    for (path, line, function), (_cc, _nc, tottime, _ct, _callers) in raw.items():
        by_group[group_of(path, function)] += tottime
        total += tottime
        rows.append((tottime, f"{Path(path).name}:{line}:{function}"))
    lines = [f"profile: {total:.2f} s of own time in the process"]
    for label, seconds in sorted(by_group.items(), key=lambda kv: -kv[1]):
        lines.append(f"  {seconds / total:6.1%}  {seconds:7.2f} s  {label}")
    lines.append(f"top {top} functions by own time:")
    for tottime, where in sorted(rows, reverse=True)[:top]:
        lines.append(f"  {tottime / total:6.1%}  {tottime:7.2f} s  {where}")
    return "\n".join(lines)
