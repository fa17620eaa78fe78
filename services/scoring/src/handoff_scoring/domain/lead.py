"""A lead's scoring state: its activity history (sorted by occurred_at), traits and MQL cycle.

Scores are never kept as running sums: they are computed from the history at an instant, so
a late event counts as if it had come in order, decay included, and the score at any instant
is reproducible. Times are epoch seconds (floats) here; datetimes live at the edges.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from handoff_scoring.domain.model import Props, ScoringModel, TraitFacts
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

    @property
    def last_at(self) -> float | None:
        return self.history[-1][0] if self.history else None

    @property
    def is_mql(self) -> bool:
        return self.qualified_at is not None

    @property
    def facts(self) -> TraitFacts:
        if self._facts is None:
            self._facts = TraitFacts.of(self.traits) if self.traits else NO_FACTS
        return self._facts

    def tally_for(self, model: ScoringModel) -> Tally:
        """The fold of this cycle's history under `model`, rebuilt when missing or stale."""
        tally = self.tally
        if tally is None or self.tally_model != model.version:
            tally = Tally()
            opens = self.opens_at
            for at, kind, props in self.history:
                if opens is None or at >= opens:
                    tally.fold(model, at, kind, props)
            self.tally, self.tally_model = tally, model.version
        return tally

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
