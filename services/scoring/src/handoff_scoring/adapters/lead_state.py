"""A lead's state as stored in scoring.leads.state, and back.

`state` is a bytea column PostgreSQL never parses, which keeps the hot upsert cheap. It holds
b"M" followed by the state in Python's `marshal` format (plain lists, dicts, strings and
numbers only: several times faster to write and read than JSON, and loading it runs no code),
or, in rows written before that (migration 0002 and the first release), compact JSON starting
with "{". Both hold the same structure: {"h": [[occurred_at, activity_type, properties|null], ...], "t": traits,
"ta": traits_at, "c": cycle, "o": opens_at, "x": closed, "q": qualified_at, "g": trigger,
"d": disqualified, "da": by activity, "e": [at, score] of the last score_changed,
"k": the running tally (domain/tally.py) and "kv": the model version it was folded under,
"f": [model version, fit points, grade, fit rules], "a": the previous ids merged in by
aliases, "r": when the lead was last erased (domain/erasure.py)}.
"""

from __future__ import annotations

import json
import marshal
from typing import Any

from handoff_scoring.domain.lead import Fit, Lead
from handoff_scoring.domain.tally import Tally

MARSHAL = b"M"
# Version 4 has been the format since Python 3.4; every later Python still reads it.
MARSHAL_VERSION = 4


def _dumps(state: dict[str, Any]) -> bytes:
    try:
        return MARSHAL + marshal.dumps(state, MARSHAL_VERSION)
    except ValueError:  # a value marshal does not take (a subclass of str, say): plain JSON
        return _json(state).encode()


_json = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, check_circular=False).encode


def _loads(raw: bytes) -> Any:
    if raw[:1] == MARSHAL:
        return marshal.loads(memoryview(raw)[1:])  # noqa: S302 (our own column; no code runs)
    return json.loads(raw)


def encode(lead: Lead) -> bytes:
    state: dict[str, Any] = {"h": lead.history, "c": lead.cycle}
    if lead.traits:
        state["t"] = lead.traits
    if lead.traits_at is not None:
        state["ta"] = lead.traits_at
    _encode_cycle(lead, state)
    if lead.emitted is not None:
        state["e"] = lead.emitted
    if lead.tally is not None:
        state["k"] = lead.tally.dump()
        state["kv"] = lead.tally_model
    if lead.fit_cache is not None:
        version, fit = lead.fit_cache
        state["f"] = [version, fit.points, fit.grade, fit.rules]
    if lead.aliases:
        state["a"] = lead.aliases
    if lead.erased_at is not None:
        state["r"] = lead.erased_at
    return _dumps(state)


def _encode_cycle(lead: Lead, state: dict[str, Any]) -> None:
    """The MQL cycle's part of the state: when it opens, closed, qualified, disqualified."""
    if lead.opens_at is not None:
        state["o"] = lead.opens_at
    if lead.closed:
        state["x"] = 1
    if lead.qualified_at is not None:
        state["q"] = lead.qualified_at
        state["g"] = lead.trigger
    if lead.disqualified is not None:
        state["d"] = lead.disqualified
        if lead.dq_by_activity:
            state["da"] = 1


def decode(lead_id: str, raw: bytes) -> Lead:
    s = _loads(raw)
    emitted = s.get("e")
    tally = s.get("k")
    fit = s.get("f")
    return Lead(
        lead_id,
        history=s["h"],  # lists of three, read like (at, kind, props) tuples
        traits=s.get("t") or {},
        traits_at=s.get("ta"),
        cycle=s.get("c", 1),
        opens_at=s.get("o"),
        closed=bool(s.get("x")),
        qualified_at=s.get("q"),
        trigger=s.get("g"),
        disqualified=s.get("d"),
        dq_by_activity=bool(s.get("da")),
        emitted=None if emitted is None else (emitted[0], emitted[1]),
        tally=None if tally is None else Tally.load(tally),
        tally_model=s.get("kv"),
        fit_cache=None if fit is None else (fit[0], Fit(fit[1], fit[2], tuple(fit[3]))),
        aliases=s.get("a") or [],
        erased_at=s.get("r"),
    )
