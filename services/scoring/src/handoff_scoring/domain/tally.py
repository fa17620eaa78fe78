"""A running fold of a lead's history, so an in-order activity costs O(rules), not O(history).

Engagement at T is a function of the activities up to T; the tally computes it by folding
them in time order, and the same fold from scratch is how a late event is handled. Both paths
do the same float operations in the same order, so a score does not depend on arrival order,
not even in the last bit. Decay weights are kept relative to a reference time `ref`
(2 ** ((t - ref) / half_life)), rebased before they could overflow.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from typing import Any

from handoff_scoring.domain.model import DAY, Plan, Props, ScoringModel

REBASE = 500.0  # half-lives between the reference time and an activity before rebasing


@dataclass(slots=True)
class Tally:
    ref: float | None = None
    last: float | None = None
    weights: dict[int, float] = field(default_factory=dict)  # rule -> sum of decay weights
    live: dict[int, list[float]] = field(default_factory=dict)  # lifespan rules -> counted times
    once: set[int] = field(default_factory=set)
    days: dict[int, tuple[int, int]] = field(default_factory=dict)  # per_day -> (day, count)
    windows: dict[int, list[float]] = field(default_factory=dict)  # per_window -> counted times
    counts: dict[str, list[float]] = field(default_factory=dict)  # counter -> times in its window
    # lifespan rules -> the sum of the decay weights of their `live` times, kept as they come
    # and go, so the score costs O(rules), not O(activities within a lifespan)
    live_weights: dict[int, float] = field(default_factory=dict)

    def fold(self, model: ScoringModel, at: float, kind: str, props: Props | None) -> None:
        """Add the next activity in time order (at >= self.last)."""
        self.fold_plan(model, at, model.plan_for(kind, props))

    def fold_plan(self, model: ScoringModel, at: float, plan: Plan) -> None:
        half = model.half_life
        last = self.last
        if last is not None and model.reset_after is not None and at - last >= model.reset_after:
            self.clear()
        ref = self.ref
        if ref is None:
            ref = self.ref = at
        elif half and (at - ref) / half > REBASE:
            ref = self._rebase(at, half)
        self.last = at
        if plan.counters:
            self._count(model, at, plan.counters)
        matched = plan.rules
        if not matched:
            return
        rules = model._all
        weight = self._weight(at, half)
        for n in matched:
            rule = rules[n]
            repeat = rule.repeat
            if repeat != "every" and not self._counts(repeat, rule.limit, rule.window, n, at):
                continue
            if rule.lifespan is not None:
                self._live(n, at, rule.lifespan, weight, half)
            else:
                self.weights[n] = self.weights.get(n, 0.0) + weight

    def _rebase(self, at: float, half: float) -> float:
        """Move the reference time to `at` before the weights could overflow."""
        assert self.ref is not None
        shrink = 2.0 ** (-(at - self.ref) / half)
        for n in self.weights:
            self.weights[n] *= shrink
        for n in self.live_weights:
            self.live_weights[n] *= shrink
        self.ref = at
        return at

    def _count(self, model: ScoringModel, at: float, counters: frozenset[str]) -> None:
        """Add `at` to the named counters, dropping the times outside each one's window."""
        for name in counters:
            times = self.counts.get(name)
            if times is None:
                times = self.counts[name] = []
            times.append(at)
            within = model.counters[name].within
            if times[0] <= at - within:
                del times[: bisect_right(times, at - within)]

    def _weight(self, t: float, half: float | None) -> float:
        assert self.ref is not None
        return 2.0 ** ((t - self.ref) / half) if half else 1.0

    def _live(self, n: int, at: float, lifespan: float, weight: float, half: float | None) -> None:
        """Add `at` to a lifespan rule's counted times, dropping those whose points are gone."""
        times = self.live.get(n)
        if times is None:
            times = self.live[n] = []
        times.append(at)
        total = self.live_weights.get(n, 0.0) + weight
        cut = 0
        while times[cut] <= at - lifespan:
            total -= self._weight(times[cut], half)
            cut += 1
        if cut:
            del times[:cut]
        self.live_weights[n] = total

    def _counts(self, repeat: str, limit: int, window: float, n: int, t: float) -> bool:
        if repeat == "once":
            if n in self.once:
                return False
            self.once.add(n)
            return True
        if repeat == "per_day":
            day = int(t // DAY)
            seen_day, seen = self.days.get(n, (day, 0))
            if seen_day != day:
                seen = 0
            if seen >= limit:
                return False
            self.days[n] = (day, seen + 1)
            return True
        times = self.windows.get(n)
        if times is None:
            times = self.windows[n] = []
        cut = 0
        while cut < len(times) and times[cut] <= t - window:
            cut += 1
        if cut:
            del times[:cut]
        if len(times) >= limit:
            return False
        times.append(t)
        return True

    def count(self, model: ScoringModel, name: str, at: float) -> int:
        """Activities the counter counts in (at - within, at], at >= self.last."""
        times = self.counts.get(name, ())
        return len(times) - bisect_right(times, at - model.counters[name].within)

    def clear(self) -> None:
        self.ref = None
        self.counts.clear()
        self.weights.clear()
        self.live.clear()
        self.live_weights.clear()
        self.once.clear()
        self.days.clear()
        self.windows.clear()

    def engagement(self, model: ScoringModel, at: float) -> float:
        """Engagement at `at` (>= self.last): decayed points per rule, capped, then the cap."""
        if self.ref is None or self.last is None:
            return 0.0
        if model.reset_after is not None and at - self.last >= model.reset_after:
            return 0.0
        half = model.half_life
        scale = 2.0 ** (-(at - self.ref) / half) if half else 1.0
        rules = model._all
        total = 0.0
        for n, weight in self.weights.items():
            rule = rules[n]
            total += _capped(rule.points * weight * scale, rule.cap)
        for n, times in self.live.items():
            rule = rules[n]
            assert rule.lifespan is not None
            weight = self.live_weights[n]
            for t in times:  # those gone since the last activity: a few at most
                if at - t < rule.lifespan:
                    break
                weight -= self._weight(t, half)
            total += _capped(rule.points * weight * scale, rule.cap)
        if model.engagement_cap is not None:
            total = min(total, model.engagement_cap)
        return total

    def dump(self) -> list[Any]:
        """A compact list for the state column; empty parts at the end are left out."""
        raw = [
            self.ref,
            self.last,
            list(self.weights.items()),
            list(self.live.items()),
            list(self.once),
            list(self.days.items()),
            list(self.windows.items()),
            list(self.counts.items()),
            list(self.live_weights.items()),
        ]
        while len(raw) > 2 and not raw[-1]:
            raw.pop()
        return raw

    @classmethod
    def load(cls, raw: list[Any]) -> Tally:
        ref, last, weights, live, once, days, windows, counts, live_weights = raw + [()] * (
            9 - len(raw)
        )
        tally = cls(
            ref,
            last,
            dict(weights),
            {n: list(times) for n, times in live},
            set(once),
            {n: (day, seen) for n, (day, seen) in days},
            {n: list(times) for n, times in windows},
            {name: list(times) for name, times in counts},
            dict(live_weights),
        )
        return tally


def _capped(points: float, cap: int | None) -> float:
    if cap is None:
        return points
    return min(points, cap) if points > 0 else max(points, -cap)
