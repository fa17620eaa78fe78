"""A lead's scoring state: its traits, MQL cycle, a running tally of the cycle's activity and
the progress of each sequence trigger, plus its activity history (sorted by occurred_at).

Scores are defined by the history: the tally is a fold of it, so a late event (refolded from
the history) counts as if it had come in order, decay included, and the score at any instant
is reproducible. The history itself is kept apart (an append-only log) and is loaded only when
needed: a lead in memory holds either its whole history (`complete`), or only the activities
added since it was loaded, in order after the `earlier` ones it did not load. In-order
activities need nothing more; a late one, an alias merge, a new model or an explanation needs
the whole history (see needs_history in lifecycle.py). Times are epoch seconds (floats) here;
datetimes live at the edges.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from handoff_scoring.domain.model import Plan, Props, ScoringModel, TraitFacts
from handoff_scoring.domain.tally import Tally

NO_FACTS = TraitFacts.of({})  # a lead known only by its activity

# One activity: (occurred_at, activity type, kept properties or None).
Entry = tuple[float, str, Props | None]


def epoch_seconds(at: datetime) -> float:
    """A datetime from an event as the domain's time: seconds since the epoch."""
    return at.timestamp()


def utc_datetime(at: float) -> datetime:
    """The domain's epoch seconds as an aware UTC datetime, for events and answers."""
    return datetime.fromtimestamp(at, UTC)


def at_of(entry: Entry) -> float:
    return entry[0]


class HistoryNeeded(RuntimeError):
    """A step needed the lead's whole history and only part of it was loaded: a fault in
    deciding what to load (lifecycle.needs_history), never the input's."""

    def __init__(self, lead_id: str, why: str) -> None:
        super().__init__(f"lead {lead_id!r}: {why}, and its history is not loaded")


def advance(
    model: ScoringModel, progress: dict[int, list[float | None]], at: float, plan: Plan
) -> None:
    """Move each sequence's progress on by one activity (see triggers.sequence_progressed).

    progress[n][k] is the latest start time of a chain of the first k + 1 steps of sequence n
    among the activities so far; a step taken by this activity extends the chains before it,
    longest first, so one activity is never two steps of the same chain."""
    for n, taken in plan.chain_steps:
        starts = progress.get(n)
        if starts is None:
            starts = progress[n] = [None] * (len(model.sequences[n].steps) - 1)
        for k in taken:  # longest first
            if k == 0:
                starts[0] = at
                continue
            before, current = starts[k - 1], starts[k]
            if before is not None and (current is None or before > current):
                starts[k] = before


@dataclass(frozen=True, slots=True)
class Fit:
    points: int
    grade: str
    rules: tuple[str, ...]  # the fit rules that matched


@dataclass(slots=True)
class Lead:
    lead_id: str
    history: list[Entry] = field(default_factory=list)
    traits: dict[str, Any] = field(default_factory=dict)
    traits_at: float | None = None  # occurred_at of the newest identify applied
    cycle: int = 1
    opens_at: float | None = None  # the current cycle counts activities from here (None: all)
    closed: bool = False  # sales closed the cycle with no reopening
    qualified_at: float | None = None  # the MQL of the current cycle
    trigger: str | None = None  # "kind:rule" of that MQL
    disqualified: str | None = None  # the reason code while disqualified
    dq_by_activity: bool = False  # an activity (unsubscribe) disqualified it: that stays
    emitted: tuple[float, int] | None = None  # the last score_changed: (at, score)
    tally: Tally | None = None  # the current cycle's history folded, for `tally_model`
    tally_model: str | None = None
    _facts: TraitFacts | None = field(default=None, repr=False)
    fit_cache: tuple[str, Fit] | None = None  # the fit of these traits under a model version
    aliases: list[str] = field(default_factory=list)  # previous ids merged in by alias signals
    erased_at: float | None = None  # when its personal data was last erased (domain/erasure.py)
    # Each sequence trigger's progress (sequence index -> per step, the latest start of a chain
    # of that many steps), for the same model as the tally; see triggers.Progress.
    progress: dict[int, list[float | None]] | None = None
    # The part of the history not in `history`: how many activities, the oldest one's time,
    # and the newest one's (occurred_at, activity type). 0 and None when `history` is complete.
    earlier: int = 0
    earlier_first: float | None = None
    earlier_last: tuple[float, str] | None = None
    # Bookkeeping for the store, not state: how many of `history` are stored already, and
    # whether the history was rewritten (a late insert, a merge, a prune, an erasure).
    saved: int = field(default=0, compare=False)
    history_replaced: bool = field(default=False, compare=False)

    @property
    def complete(self) -> bool:
        """Whether `history` holds the whole retained history."""
        return self.earlier == 0

    @property
    def activity_count(self) -> int:
        return self.earlier + len(self.history)

    @property
    def last_entry(self) -> tuple[float, str] | None:
        """(occurred_at, activity type) of the newest activity."""
        if self.history:
            at, kind, _ = self.history[-1]
            return at, kind
        return self.earlier_last

    @property
    def last_at(self) -> float | None:
        if self.history:
            return self.history[-1][0]
        return None if self.earlier_last is None else self.earlier_last[0]

    @property
    def first_at(self) -> float | None:
        if self.earlier:
            return self.earlier_first
        return self.history[0][0] if self.history else None

    def with_earlier(self, earlier: list[Entry]) -> None:
        """Complete the history with the `earlier` activities read from the store."""
        self.history[:0] = earlier
        self.saved += len(earlier)
        self.earlier, self.earlier_first, self.earlier_last = 0, None, None

    @property
    def is_mql(self) -> bool:
        return self.qualified_at is not None

    @property
    def facts(self) -> TraitFacts:
        if self._facts is None:
            self._facts = TraitFacts.of(self.traits) if self.traits else NO_FACTS
        return self._facts

    def tally_for(self, model: ScoringModel) -> Tally:
        """The fold of this cycle's history under `model`, rebuilt when missing or stale (with
        the sequences' progress, which is folded under the same model)."""
        tally = self.tally
        if tally is None or self.tally_model != model.version:
            if not self.complete:
                raise HistoryNeeded(self.lead_id, "the tally is stale")
            tally = Tally()
            progress: dict[int, list[float | None]] = {}
            opens = self.opens_at
            for at, kind, props in self.history:
                plan = model.plan_for(kind, props)
                if opens is None or at >= opens:
                    tally.fold_plan(model, at, plan)
                advance(model, progress, at, plan)
            self.tally, self.tally_model, self.progress = tally, model.version, progress
        return tally

    def folded(self, model: ScoringModel) -> bool:
        """Whether the tally and the sequences' progress are current under `model`."""
        return (
            self.tally is not None
            and self.tally_model == model.version
            and self.progress is not None
        )

    def traits_changed(self) -> None:
        self._facts = None
        self.fit_cache = None

    def fit(self, model: ScoringModel) -> Fit:
        cached = self.fit_cache
        if cached is not None and cached[0] == model.version:
            return cached[1]
        facts = self.facts
        matched = [r for r in model.fit_rules if r.test.holds(facts)]
        points = sum(r.points for r in matched)
        if model.fit_cap is not None:
            points = min(points, model.fit_cap)
        fit = Fit(points, model.grade(points), tuple(r.name for r in matched))
        self.fit_cache = (model.version, fit)
        return fit
