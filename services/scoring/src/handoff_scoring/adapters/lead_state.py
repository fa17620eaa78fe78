"""A lead's running state as stored in scoring.leads.state, and back; its activities are in
scoring.activities (leads.py), not here.

`state` is a bytea column PostgreSQL never parses, which keeps the hot upsert cheap. Since
migration 0400 it holds a version byte, 0x01, then a MessagePack map (msgspec) with these keys,
each left out when empty:

    t  traits                  ta  when the newest identify happened
    c  cycle                   o   when the cycle opens     x  1 if sales closed it
    q  qualified at            g   "kind:rule" of the MQL   d  disqualification reason
    da 1 if an activity disqualified it
    e  [at, score] of the last score_changed
    k  the running tally (domain/tally.py)   kv  the model version it and `p` are folded under
    p  the sequences' progress: {sequence index: [latest chain start per step]}
    f  [model version, fit points, grade, fit rules]
    a  previous ids merged in by aliases     r   when the lead was last erased
    n  activities in scoring.activities      nf  the oldest one's time
    nl [occurred_at, activity type] of the newest

MessagePack keeps floats exact (decay depends on the last bit), is a documented format any
language reads, and a later layout takes the next version byte. Rows written before 0400
(b"M" + Python marshal, or JSON starting with "{"), whose state held the whole history under
"h", still read: `decode` gives such a lead with its history loaded and marked for rewriting,
so the next save moves it to scoring.activities and this layout.
"""

from __future__ import annotations

import json
import marshal
from typing import Any

import msgspec

from handoff_scoring.domain.lead import Fit, Lead
from handoff_scoring.domain.tally import Tally

VERSION = b"\x01"
LEGACY_MARSHAL = b"M"

_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder().decode


def encode(lead: Lead) -> bytes:
    state: dict[str, Any] = {"c": lead.cycle}
    if lead.traits:
        state["t"] = lead.traits
    if lead.traits_at is not None:
        state["ta"] = lead.traits_at
    _encode_cycle(lead, state)
    if lead.emitted is not None:
        state["e"] = lead.emitted
    if lead.tally is not None and lead.progress is not None:
        state["k"] = lead.tally.dump()
        state["kv"] = lead.tally_model
        state["p"] = lead.progress
    if lead.fit_cache is not None:
        version, fit = lead.fit_cache
        state["f"] = [version, fit.points, fit.grade, fit.rules]
    if lead.aliases:
        state["a"] = lead.aliases
    if lead.erased_at is not None:
        state["r"] = lead.erased_at
    count = lead.activity_count
    if count:
        state["n"] = count
        state["nf"] = lead.first_at
        state["nl"] = lead.last_entry
    return VERSION + _encode(state)


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
    """The lead in `raw`: its running state, its history left in scoring.activities (or, for a
    row from before 0400, the history the row held, loaded and due to move there)."""
    if raw[:1] != VERSION:
        return _decode_legacy(lead_id, raw)
    s = _decode(memoryview(raw)[1:])
    lead = _lead(lead_id, s)
    tally = s.get("k")
    if tally is not None:
        lead.tally, lead.tally_model = Tally.load(tally), s.get("kv")
        lead.progress = s.get("p") or {}
    count = s.get("n", 0)
    if count:
        last = s["nl"]
        lead.earlier, lead.earlier_first, lead.earlier_last = count, s["nf"], (last[0], last[1])
    return lead


def _lead(lead_id: str, s: dict[str, Any]) -> Lead:
    """The fields both layouts share."""
    emitted = s.get("e")
    fit = s.get("f")
    return Lead(
        lead_id,
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
        fit_cache=None if fit is None else (fit[0], Fit(fit[1], fit[2], tuple(fit[3]))),
        aliases=s.get("a") or [],
        erased_at=s.get("r"),
    )


def _decode_legacy(lead_id: str, raw: bytes) -> Lead:
    """A row from before 0400: the whole history was in the state. Its tally is dropped (it
    had no sequence progress beside it) and refolded from that history on first use."""
    legacy = raw[:1] == LEGACY_MARSHAL
    # marshal: our own column, and loading it runs no code
    s = marshal.loads(memoryview(raw)[1:]) if legacy else json.loads(raw)  # noqa: S302
    lead = _lead(lead_id, s)
    lead.history = [(e[0], e[1], e[2]) for e in s["h"]]
    lead.history_replaced = True
    return lead
