"""What changes a lead: an activity, an identify, an alias merging an anonymous visitor in, and
sales' recycles and dispositions that open and close its MQL cycles."""

from __future__ import annotations

import heapq
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from typing import Any

from handoff_scoring.domain.lead import Entry, HistoryNeeded, Lead, advance, at_of
from handoff_scoring.domain.model import Props, ScoringModel
from handoff_scoring.domain.triggers import Qualified, qualify_if_triggered


@dataclass(frozen=True, slots=True)
class Disqualified:
    lead_id: str
    cycle: int
    at: float
    reason: str
    rule: str


Outcome = Qualified | Disqualified


def apply_activity(
    model: ScoringModel, lead: Lead, at: float, kind: str, props: Props | None = None
) -> list[Outcome]:
    """Add one activity at its occurred_at; a late one is checked as if it had come in order.

    In order, it costs the same whatever the lead's history: the tally and the sequences'
    progress move on by one activity. A late one (which needs the whole history loaded) is
    inserted where it belongs, and both are refolded from the history."""
    h = lead.history
    entry: Entry = (at, kind, props or None)
    plan = model.plan_for(kind, entry[2])
    out: list[Outcome] = []
    last = lead.last_entry
    # Ties in time keep a canonical order (by activity type), so the history is the same
    # whatever order the events arrived in.
    if last is None or at > last[0] or (at == last[0] and kind >= last[1]):
        h.append(entry)
        j = len(h) - 1
        late = False
        folded = lead.folded(model)
        if folded and (lead.opens_at is None or at >= lead.opens_at):
            assert lead.tally is not None
            lead.tally.fold_plan(model, at, plan)
    elif not lead.complete:
        raise HistoryNeeded(lead.lead_id, "a late activity")
    else:
        j = bisect_right(h, (at, kind), key=_at_kind)
        h.insert(j, entry)
        late = folded = True
        lead.tally = lead.progress = None
        lead.history_replaced = True
    if plan.disqualifier is not None:
        d = model.disqualifiers[plan.disqualifier]
        if lead.disqualified is None:
            out.append(Disqualified(lead.lead_id, lead.cycle, at, d.reason, d.name))
        lead.disqualified, lead.dq_by_activity = d.reason, True
    if not late:
        q = qualify_if_triggered(model, lead, at, j, False, plan)
        if folded and lead.progress is not None:  # after the check: a chain ends before it
            advance(model, lead.progress, at, plan)
    else:
        q = _first_qualified_from(model, lead, j)
    if q is not None:
        out.append(q)
    prune(model, lead)
    return out


def _first_qualified_from(model: ScoringModel, lead: Lead, start: int) -> Qualified | None:
    """Check each activity from history index `start` on, as if they had come in order."""
    h = lead.history
    for i in range(start, len(h)):
        q = qualify_if_triggered(model, lead, h[i][0], i, False)
        if q is not None:
            return q
    return None


def _at_kind(entry: Entry) -> tuple[float, str]:
    return entry[0], entry[1]


# How far a lead's stored history may run past the model's retention (count and age) before it
# is trimmed: trimming rewrites it, so it waits until a good share is due (see needs_history).
TRIM_SLACK = 0.5


def prune(model: ScoringModel, lead: Lead) -> None:
    """Keep a loaded history within the model's retention (age and count); a history only
    partly loaded is trimmed once it runs past by TRIM_SLACK (needs_history loads it then)."""
    h = lead.history
    if not h or not lead.complete:
        return
    drop = bisect_left(h, h[-1][0] - model.retention, key=at_of)
    drop = max(drop, len(h) - model.max_activities)
    if drop > 0:
        del h[:drop]
        lead.history_replaced = True


def over_retention(model: ScoringModel, lead: Lead) -> bool:
    """Whether the stored history runs past the retention by more than the slack."""
    first, last = lead.first_at, lead.last_at
    if lead.activity_count > model.max_activities * (1 + TRIM_SLACK) + 16:
        return True
    return (
        first is not None and last is not None and last - first > model.retention * (1 + TRIM_SLACK)
    )


@dataclass(slots=True)
class Arrival:
    """What a batch brings a lead, as needs_history sees it."""

    activities: list[tuple[float, str]]  # (occurred_at, activity type), in the batch's order
    merges: bool = False  # an alias merges it with another lead that has activity
    sales: bool = False  # a recycle, disposition or rejection opens or closes its cycle


def needs_history(model: ScoringModel, lead: Lead, arrival: Arrival) -> bool:
    """Whether applying `arrival` needs the lead's whole history, not only its running state:
    a late activity, an alias merge, a sales outcome (a new cycle may refold), a new model,
    or a history due for trimming. Everything else (nearly every signal) needs none."""
    if lead.complete:
        return False
    if arrival.merges or arrival.sales or not lead.folded(model) or over_retention(model, lead):
        return True
    last = lead.last_entry
    for at, kind in arrival.activities:
        if last is not None and (at < last[0] or (at == last[0] and kind < last[1])):
            return True
        last = (at, kind)
    return False


def _merge_traits(mine: dict[str, Any], theirs: dict[str, Any], override: bool) -> None:
    for key, value in theirs.items():
        if value is None:
            continue
        current = mine.get(key)
        if isinstance(value, dict) and isinstance(current, dict):
            for k, v in value.items():
                if v is not None and (override or current.get(k) is None):
                    current[k] = v
        elif override or current is None:
            mine[key] = dict(value) if isinstance(value, dict) else value


def disqualify_by_traits(model: ScoringModel, lead: Lead, at: float) -> list[Outcome]:
    """Apply the trait disqualifiers (competitor, free mail, student...) to the lead's current
    traits; a disqualification by activity (an unsubscribe) stays whatever the traits say."""
    if lead.dq_by_activity:
        return []
    facts = lead.facts
    found = next((d for d in model.disqualifiers if d.test and d.test.holds(facts)), None)
    if found is None:
        lead.disqualified = None
        return []
    newly = lead.disqualified is None
    lead.disqualified = found.reason
    return [Disqualified(lead.lead_id, lead.cycle, at, found.reason, found.name)] if newly else []


def apply_identify(
    model: ScoringModel, lead: Lead, traits: dict[str, Any], at: float
) -> list[Outcome]:
    """Merge traits: the newest identify wins; an older one only fills what is unknown."""
    newer = lead.traits_at is None or at >= lead.traits_at
    _merge_traits(lead.traits, traits, override=newer)
    if newer:
        lead.traits_at = at
    lead.traits_changed()
    out = disqualify_by_traits(model, lead, at)
    last = lead.last_at
    q = qualify_if_triggered(model, lead, max(at, last) if last is not None else at, None, True)
    return [*out, q] if q is not None else out


def merge_alias(model: ScoringModel, known: Lead, anonymous: Lead) -> list[Outcome]:
    """Fold an anonymous visitor's history and traits into the known lead, as if in order."""
    for lead in (known, anonymous):
        if not lead.complete:
            raise HistoryNeeded(lead.lead_id, "an alias merge")
    first = anonymous.history[0][0] if anonymous.history else None
    if anonymous.history:
        known.history = list(heapq.merge(known.history, anonymous.history, key=_at_kind))
        known.tally = known.progress = None
        known.history_replaced = True
    _merge_traits(known.traits, anonymous.traits, override=False)
    known.traits_changed()
    out: list[Outcome] = []
    if anonymous.dq_by_activity and anonymous.disqualified and known.disqualified is None:
        known.disqualified, known.dq_by_activity = anonymous.disqualified, True
        at = known.last_at or 0.0
        out.append(Disqualified(known.lead_id, known.cycle, at, anonymous.disqualified, "alias"))
    last = known.last_at
    if last is not None:
        out += disqualify_by_traits(model, known, last)
    q = None
    if first is not None:
        q = _first_qualified_from(model, known, bisect_left(known.history, first, key=at_of))
    if q is None and last is not None:
        q = qualify_if_triggered(model, known, last, None, True)
    if q is not None:
        out.append(q)
    prune(model, known)
    return out


def recycle(lead: Lead, until: float) -> bool:
    """Sales sent the lead back: a new cycle opens at `until`. False when no cycle was used."""
    if lead.qualified_at is None and not lead.closed:
        return False
    _new_cycle(lead, until)
    return True


def disposition(model: ScoringModel, lead: Lead, outcome: str, at: float) -> None:
    """nurture and disqualified close the cycle; the model says after how long one reopens."""
    reopen = {"nurture": model.nurture, "disqualified": model.sales_disqualified}.get(outcome)
    if reopen is None:
        return
    if reopen.after is None:
        lead.closed = True
    else:
        _new_cycle(lead, at + reopen.after)


def cycle_state(lead: Lead, now: float) -> str:
    """Where the lead's MQL cycle stands, for GET /v1/leads/{id}/score.

    Sales closing the cycle outranks its MQL: a qualified lead that sales dispositioned as
    disqualified (or rejected as do_not_call) is closed, though the cycle's MQL still stands.
    """
    if lead.disqualified is not None:
        return "disqualified"
    if lead.closed:
        return "closed"
    if lead.is_mql:
        return "mql"
    opens = lead.opens_at
    if opens is not None and (lead.last_at or 0.0) < opens and now < opens:
        return "waiting"
    return "open"


def _new_cycle(lead: Lead, opens_at: float) -> None:
    lead.cycle += 1
    lead.opens_at = opens_at
    lead.tally = lead.progress = None
    lead.qualified_at = None
    lead.trigger = None
    lead.closed = False
