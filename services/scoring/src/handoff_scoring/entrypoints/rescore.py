"""`handoff scoring rescore --model FILE [--dry-run]`: replay every lead's recorded history
under another model and report how many MQLs it would make and which leads change, before
anyone deploys it. Without --dry-run it also stores the new scores (no events are sent).
Progress goes to stderr (entrypoints/progress.py); the report to stdout."""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from sqlalchemy.exc import SQLAlchemyError

from handoff.config_file import ConfigError
from handoff.db import create_engine
from handoff_scoring.adapters.leads import LeadRow, StoredLead, count, every_lead, save
from handoff_scoring.config import load_model
from handoff_scoring.domain.lead import utc_datetime
from handoff_scoring.domain.model import ScoringModel
from handoff_scoring.domain.replay import Verdict, replay
from handoff_scoring.entrypoints.progress import LOG_EVERY_SECONDS, tracker

SHOWN = 20
# Progress is reported every this many leads: often enough for a smooth bar and rate, rarely
# enough to cost nothing beside the replay.
PROGRESS_EVERY = 500


@dataclass
class Report:
    model_version: str
    leads: int = 0
    mqls_now: int = 0
    mqls_new: int = 0
    gained: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    changed: list[tuple[str, int, int]] = field(default_factory=list)  # lead, before, after
    disqualified: int = 0
    triggers: dict[str, int] = field(default_factory=dict)

    def add(self, stored: StoredLead, verdict: Verdict) -> None:
        """One lead's replay under the new model, beside what is stored."""
        self.mqls_now += stored.lead.is_mql
        self.mqls_new += verdict.qualified
        self.disqualified += verdict.disqualified is not None
        if verdict.trigger is not None and verdict.qualified:
            self.triggers[verdict.trigger] = self.triggers.get(verdict.trigger, 0) + 1
        if verdict.qualified and not stored.lead.is_mql:
            self.gained.append(stored.lead.lead_id)
        elif stored.lead.is_mql and not verdict.qualified:
            self.lost.append(stored.lead.lead_id)
        if verdict.score != stored.score:
            self.changed.append((stored.lead.lead_id, stored.score, verdict.score))

    def write(self, out: TextIO, dry_run: bool) -> None:
        def some(ids: list[str]) -> str:
            more = f" ... and {len(ids) - SHOWN} more" if len(ids) > SHOWN else ""
            return ", ".join(ids[:SHOWN]) + more

        print(f"rescored {self.leads} leads under model {self.model_version}", file=out)
        print(
            f"MQLs in the current cycle: {self.mqls_now} now, {self.mqls_new} under the new model",
            file=out,
        )
        for trigger, n in sorted(self.triggers.items(), key=lambda kv: -kv[1]):
            print(f"  {n:>7}  {trigger}", file=out)
        print(
            f"would become MQLs: {len(self.gained)}"
            + (f": {some(self.gained)}" if self.gained else ""),
            file=out,
        )
        print(
            f"would no longer be MQLs: {len(self.lost)}"
            + (f": {some(self.lost)}" if self.lost else ""),
            file=out,
        )
        print(f"disqualified under the new model: {self.disqualified}", file=out)
        print(f"scores that change: {len(self.changed)}", file=out)
        for lead_id, before, after in sorted(self.changed, key=lambda c: -abs(c[2] - c[1]))[:SHOWN]:
            print(f"  {lead_id}: {before} -> {after}", file=out)
        print(
            "dry run: nothing was written"
            if dry_run
            else "stored the new scores; restart scoring with the new model to use it",
            file=out,
        )


async def rescore(
    database_url: str,
    model: ScoringModel,
    dry_run: bool,
    progress: TextIO | None = None,
    log_every: float = LOG_EVERY_SECONDS,
) -> Report:
    """Replay every lead under `model`; progress (a bar, or log lines) to `progress` if given."""
    report = Report(model.version)
    engine = create_engine(database_url, pool_size=2)
    try:
        async with engine.connect() as conn:
            shown = None if progress is None else tracker(await count(conn), progress, log_every)
            try:
                pending: list[LeadRow] = []
                async for stored in every_lead(conn):
                    verdict = replay(model, stored.lead)
                    report.leads += 1
                    if shown is not None and report.leads % PROGRESS_EVERY == 0:
                        shown.advance(report.leads)
                    report.add(stored, verdict)
                    if not dry_run:
                        # Keep the lead's cycle and MQL as they are; only its scores change.
                        lead = stored.lead
                        replayed = verdict.lead
                        lead.tally, lead.tally_model = replayed.tally, replayed.tally_model
                        lead.progress = replayed.progress
                        last = None if lead.last_at is None else utc_datetime(lead.last_at)
                        pending.append(LeadRow(lead, verdict.score, verdict.grade, None, last))
            finally:  # the bar stops (and a log line says how far it got) even on an error
                if shown is not None:
                    shown.advance(report.leads)
                    shown.close()
            if pending:
                for start in range(0, len(pending), 2000):
                    await save(conn, pending[start : start + 2000], model.version)
                await conn.commit()
    finally:
        await engine.dispose()
    return report


def main(
    model_file: str,
    database_url: str,
    dry_run: bool,
    out: TextIO | None = None,
    progress: TextIO | None = None,
) -> int:
    try:
        model = load_model(Path(model_file))
    except ConfigError as exc:
        print(f"handoff: invalid model: {exc}", file=sys.stderr)
        return 2
    try:
        report = asyncio.run(rescore(database_url, model, dry_run, progress or sys.stderr))
    except (OSError, SQLAlchemyError) as exc:
        print(
            f"handoff: cannot read the lead history: {exc.__class__.__name__}: {exc}",
            file=sys.stderr,
        )
        return 1
    report.write(out or sys.stdout, dry_run)
    return 0
