"""The end-state check can fail: a lost, a doubled or a wrongly counted fact is reported,
and a record published again under the same id is counted apart (the inboxes absorb it)."""

from __future__ import annotations

from handoff.events import routing, scoring, signals, sla
from tests.reliability.harness import FIRINGS, Fact, count_facts
from tests.reliability.load import expected, make_load

LOAD = make_load("check", leads=8)
WANT = expected(LOAD)


def fault_free() -> dict[str, list[Fact]]:
    facts: dict[str, list[Fact]] = {
        t: [] for t in (signals.TOPIC, scoring.TOPIC, routing.TOPIC, sla.TOPIC)
    }
    for s, event_id in zip(LOAD.signals, LOAD.event_ids(), strict=True):
        facts[signals.TOPIC].append(Fact(event_id, "handoff.signal.activity", s["lead_id"], {}))
    for lead, mql_id in WANT.mqls.items():
        facts[scoring.TOPIC].append(Fact(mql_id, "handoff.lead.mql", lead, {"cycle": 1}))
        handoff = {"mql_id": mql_id, "handoff_id": f"h-{lead}"}
        facts[routing.TOPIC].append(Fact(f"a-{lead}", "handoff.lead.assigned", lead, handoff))
        ref = {"handoff_id": f"h-{lead}"}
        if lead in WANT.accepted:
            facts[routing.TOPIC].append(Fact(f"ok-{lead}", "handoff.lead.accepted", lead, ref))
            facts[sla.TOPIC].append(Fact(f"met-{lead}", "handoff.sla.met", lead, ref))
            continue
        for kind in FIRINGS:
            facts[sla.TOPIC].append(Fact(f"{kind}-{lead}", kind, lead, ref))
    return facts


def test_the_load_has_leads_that_qualify_and_leads_that_do_not() -> None:
    assert 0 < len(WANT.mqls) < len(LOAD.leads)
    assert 0 < len(WANT.accepted) < len(WANT.mqls), "some handoffs are accepted, some breach"


def test_the_fault_free_facts_pass() -> None:
    outcome = count_facts(LOAD, WANT, fault_free())
    assert not outcome.problems
    assert (outcome.lost, outcome.duplicated, outcome.republished) == (0, 0, 0)
    assert outcome.assignments == outcome.timers == len(WANT.mqls)


def test_a_second_mql_for_one_cycle_is_a_duplicate() -> None:
    facts = fault_free()
    lead = next(iter(WANT.mqls))
    facts[scoring.TOPIC].append(Fact("another-id", "handoff.lead.mql", lead, {"cycle": 1}))
    outcome = count_facts(LOAD, WANT, facts)
    assert outcome.duplicated == 1 and outcome.lost == 0
    assert outcome.problems == [
        f"MQL duplicated: {lead} cycle 1 has 2: {sorted([WANT.mqls[lead], 'another-id'])}"
    ]


def test_a_missing_signal_and_breach_are_lost() -> None:
    facts = fault_free()
    dropped_signal = facts[signals.TOPIC].pop()
    breach = next(f for f in facts[sla.TOPIC] if f.type == "handoff.sla.breached")
    facts[sla.TOPIC].remove(breach)
    outcome = count_facts(LOAD, WANT, facts)
    assert (outcome.lost, outcome.duplicated) == (2, 0)
    assert outcome.problems == [
        f"signal lost: {dropped_signal.id}",
        f"handoff.sla.breached lost: {breach.data['handoff_id']}",
    ]


def test_an_mql_never_assigned_is_lost() -> None:
    facts = fault_free()
    lead = next(lead for lead in WANT.mqls if lead not in WANT.accepted)
    for topic in (routing.TOPIC, sla.TOPIC):  # no assignment, so no timer either
        facts[topic] = [f for f in facts[topic] if f.lead != lead]
    outcome = count_facts(LOAD, WANT, facts)
    assert (outcome.lost, outcome.duplicated) == (1, 0)
    assert outcome.problems == [f"assignment lost: {WANT.mqls[lead]}"]


def test_the_same_record_twice_is_republished_not_duplicated() -> None:
    facts = fault_free()
    facts[routing.TOPIC].append(facts[routing.TOPIC][0])
    outcome = count_facts(LOAD, WANT, facts)
    assert (outcome.republished, outcome.duplicated, outcome.lost) == (1, 0, 0)
