"""A lead's scores at an instant: engagement from its history (through the running tally),
fit from its traits, and when a score change is worth announcing."""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from dataclasses import dataclass

from handoff_scoring.domain.lead import Fit, HistoryNeeded, Lead, at_of
from handoff_scoring.domain.model import ScoringModel
from handoff_scoring.domain.tally import Tally


def round_points(points: float) -> int:
    """Points as a whole number, halves rounded up (1.5 -> 2, -1.5 -> -1)."""
    return math.floor(points + 0.5)


@dataclass(frozen=True, slots=True)
class Score:
    at: float | None
    engagement: int
    fit: Fit

    @property
    def total(self) -> int:
        return self.engagement + self.fit.points


def window_start(model: ScoringModel, lead: Lead, at: float) -> tuple[int, int]:
    """History indexes [lo, hi) that count at `at`: in the cycle, up to `at`, after the last
    gap of `reset_after` without activity."""
    if not lead.complete:
        raise HistoryNeeded(lead.lead_id, "an explanation")
    h = lead.history
    hi = bisect_right(h, at, key=at_of)
    lo = 0 if lead.opens_at is None else bisect_left(h, lead.opens_at, key=at_of)
    reset = model.reset_after
    if reset is not None and hi > lo:
        if at - h[hi - 1][0] >= reset:
            return hi, hi
        for i in range(hi - 1, lo, -1):
            if h[i][0] - h[i - 1][0] >= reset:
                return i, hi
    return lo, hi


def tally_at(model: ScoringModel, lead: Lead, at: float) -> Tally:
    """The cycle's history folded up to `at`: the lead's running tally, or a fresh fold."""
    tally = lead.tally_for(model)
    if tally.last is None or at >= tally.last:
        return tally
    if not lead.complete:
        raise HistoryNeeded(lead.lead_id, "a score before the latest activity")
    earlier = Tally()
    opens = lead.opens_at
    for t, kind, props in lead.history:
        if t > at:
            break
        if opens is None or t >= opens:
            earlier.fold(model, t, kind, props)
    return earlier


def engagement_at(model: ScoringModel, lead: Lead, at: float) -> float:
    """The engagement score at `at`, exactly: each counted activity's points decayed by its age,
    each rule capped, then the engagement cap (see tally.py)."""
    return tally_at(model, lead, at).engagement(model, at)


def counter_value(model: ScoringModel, lead: Lead, name: str, at: float) -> int:
    """How many activities the named counter counts at `at`."""
    return tally_at(model, lead, at).count(model, name, at)


def score_at(model: ScoringModel, lead: Lead, at: float | None = None) -> Score:
    """The lead's scores at `at` (default: its latest activity)."""
    when = lead.last_at if at is None else at
    engagement = 0 if when is None else round_points(engagement_at(model, lead, when))
    return Score(when, engagement, lead.fit(model))


def score_change_due(model: ScoringModel, lead: Lead) -> Score | None:
    """The score to announce in handoff.lead.score_changed, at most once per `every`."""
    rate = model.score_changed
    if rate is None or lead.last_entry is None:
        return None
    score = score_at(model, lead)
    assert score.at is not None
    if lead.emitted is None:
        due = abs(score.total) >= rate.min_change
    else:
        last_at, last_score = lead.emitted
        due = abs(score.total - last_score) >= rate.min_change and score.at - last_at >= rate.every
    if not due:
        return None
    lead.emitted = (score.at, score.total)
    return score
