"""The end-state check shared by every reliability scenario.

A scenario sends a deterministic load (load.py) through the public API, injects its fault
while the load runs (rig.py), and then `settle` proves the end state equals the
fault-free one: the expected result is computed by the pure scoring domain from the same
signals, and the topics are read (from fetched records, never ListOffsets) until every
expected fact is there and the system is quiet: no unsent outbox row, every consumer group
committed up to the end of what it reads, no timer due and unfired. Then every fact is
counted by CloudEvent id: a fact missing is lost, a second id for one fact is a duplicate.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition

from handoff.events import routing, scoring, signals, sla
from tests.reliability.load import Expected, Load, expected
from tests.reliability.rig import Rig, deadline, soak_factor

REPO = Path(__file__).resolve().parents[2]

# What each consumer group reads: the group is quiet when it committed the end of each.
GROUPS = {
    "handoff-scoring": (signals.TOPIC, routing.TOPIC),
    "handoff-routing": (scoring.TOPIC, sla.TOPIC),  # and commands, which no scenario uses
    "handoff-sla-watch": (routing.TOPIC,),
}
WATCHED = (signals.TOPIC, scoring.TOPIC, routing.TOPIC, sla.TOPIC)
# The policies in conftest.SLA_YAML: each timer not accepted in time breaches and escalates
# once; an accepted one is met once.
FIRINGS = ("handoff.sla.breached", "handoff.sla.escalated")


async def until(
    check: Callable[[], Awaitable[Any]], what: str | Callable[[], str], within: float = 60
) -> Any:
    """Await `check` until it returns something truthy; fail naming `what` at the deadline."""
    end = deadline(within)
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > end:
            said = what() if callable(what) else what
            raise AssertionError(
                f"timed out after {within * soak_factor():.0f}s waiting for {said}"
            )
        await asyncio.sleep(0.2)


async def readiness(http: httpx.AsyncClient, rig: Rig) -> dict[str, tuple[int, list[str]]]:
    """Each service's /readyz: its status and what it names as down."""
    out = {}
    for name in rig.stack.services:
        try:
            resp = await http.get(f"{rig.url(name)}/readyz", timeout=5)
            out[name] = (resp.status_code, list(resp.json().get("down", [])))
        except (httpx.HTTPError, ValueError):
            out[name] = (0, ["(no answer)"])
    return out


async def every_service_names_down(http: httpx.AsyncClient, rig: Rig, what: str) -> bool:
    return all(code == 503 and what in down for code, down in (await readiness(http, rig)).values())


async def every_service_ready(http: httpx.AsyncClient, rig: Rig) -> bool:
    return all(code == 200 for code, _ in (await readiness(http, rig)).values())


# --- reading the topics ---------------------------------------------------------------------


@dataclass
class Fact:
    """One record as the check needs it: the CloudEvent's id, type, lead and data."""

    id: str
    type: str
    lead: str
    data: dict[str, Any]


class TopicWatch:
    """Reads a topic from the start, keeping the records of some leads and the fetched
    high watermark of every partition (the broker's ListOffsets answer is wrong)."""

    def __init__(self, bootstrap: str, topic: str, leads: Iterable[str]) -> None:
        self.topic, self.bootstrap = topic, bootstrap
        self.keys = {lead.encode() for lead in leads}
        self.facts: list[Fact] = []
        self.unreadable = 0
        self.high: dict[int, int] = {}
        self.position: dict[int, int] = {}
        self.consumer: AIOKafkaConsumer | None = None

    async def start(self) -> None:
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            group_id=None,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await self.consumer.start()
        parts = await until(
            lambda: _partitions(self.consumer, self.topic), f"partitions of {self.topic}"
        )
        tps = [TopicPartition(self.topic, p) for p in sorted(parts)]
        self.consumer.assign(tps)
        await self.consumer.seek_to_beginning(*tps)

    async def stop(self) -> None:
        if self.consumer is not None:
            await self.consumer.stop()

    async def poll(self, timeout_ms: int = 200) -> None:
        assert self.consumer is not None
        batches = await self.consumer.getmany(timeout_ms=timeout_ms, max_records=5000)
        for tp, records in batches.items():
            for r in records:
                self.position[tp.partition] = r.offset + 1
                if r.key in self.keys:
                    self._keep(r.value or b"", r.key.decode())
        for tp in self.consumer.assignment():
            high = self.consumer.highwater(tp)
            if high is not None:
                self.high[tp.partition] = high

    def _keep(self, value: bytes, key: str) -> None:
        try:
            event = json.loads(value)
            self.facts.append(Fact(event["id"], event["type"], key, event.get("data") or {}))
        except (ValueError, KeyError, TypeError):
            self.unreadable += 1

    def caught_up(self) -> bool:
        """Every partition read to the high watermark of the latest fetch."""
        assert self.consumer is not None
        parts = [tp.partition for tp in self.consumer.assignment()]
        return all(p in self.high and self.position.get(p, 0) >= self.high[p] for p in parts)

    def of_type(self, kind: str) -> list[Fact]:
        return [f for f in self.facts if f.type == kind]


async def _partitions(consumer: AIOKafkaConsumer | None, topic: str) -> set[int] | None:
    assert consumer is not None
    await consumer.topics()  # fresh metadata
    return consumer.partitions_for_topic(topic) or None


async def unsent_outbox_rows(dsn: str) -> dict[str, int]:
    """Rows not yet published, per schema, in every outbox table there is."""
    conn = await asyncpg.connect(dsn)
    try:
        schemas = [
            r["table_schema"]
            for r in await conn.fetch(
                "SELECT table_schema FROM information_schema.tables WHERE table_name = 'outbox'"
            )
        ]
        return {
            s: await conn.fetchval(f"SELECT count(*) FROM {s}.outbox WHERE published_at IS NULL")
            for s in schemas
        }
    finally:
        await conn.close()


async def timers_due(dsn: str, leads: list[str]) -> int:
    """The scenario's timers whose next step is due and not yet fired."""
    conn = await asyncpg.connect(dsn)
    try:
        return int(
            await conn.fetchval(
                "SELECT count(*) FROM sla.timers WHERE lead_id = ANY($1::text[]) "
                "AND next_at IS NOT NULL AND next_at <= now()",
                leads,
            )
        )
    finally:
        await conn.close()


class GroupProbe:
    """Reads each consumer group's committed offsets without joining the group. (The admin
    client's OffsetFetch answer from the embedded broker does not decode; a consumer's does.)"""

    def __init__(self, bootstrap: str) -> None:
        self.consumers = {
            group: AIOKafkaConsumer(
                bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False
            )
            for group in GROUPS
        }

    async def start(self) -> None:
        for c in self.consumers.values():
            await c.start()

    async def stop(self) -> None:
        for c in self.consumers.values():
            await c.stop()

    async def behind(self, watches: dict[str, TopicWatch]) -> list[str]:
        """The groups that have not committed the end of a partition they read."""
        out = []
        for group, topics in GROUPS.items():
            for topic in topics:
                for p, high in watches[topic].high.items():
                    done = await self.consumers[group].committed(TopicPartition(topic, p))
                    if high > 0 and (done or 0) < high:
                        out.append(f"{group} {topic}[{p}] at {done} of {high}")
        return out


# --- the end-state check --------------------------------------------------------------------


@dataclass
class Outcome:
    """One row of the scenarios table."""

    scenario: str
    load: str
    faults: str
    leads: int = 0
    mqls: int = 0
    assignments: int = 0
    timers: int = 0
    lost: int = 0
    duplicated: int = 0
    republished: int = 0  # records carrying an id already seen: absorbed by the inboxes
    wrong_scores: int = 0
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)


@dataclass
class Results:
    rows: list[dict[str, Any]] = field(default_factory=list)
    path: Path | None = None

    def add(self, outcome: Outcome) -> None:
        row = {k: v for k, v in vars(outcome).items() if k != "problems"}
        self.rows.append(row)
        print("reliability:", json.dumps(row))

    def table(self) -> list[str]:
        head = (
            "scenario | load | faults | leads/MQLs/assignments/timers checked | lost | "
            "duplicated | wrong scores | records republished | seconds"
        )
        lines = [head, "-" * len(head)]
        for r in self.rows:
            lines.append(
                f"{r['scenario']} | {r['load']} | {r['faults']} | "
                f"{r['leads']}/{r['mqls']}/{r['assignments']}/{r['timers']} | {r['lost']} | "
                f"{r['duplicated']} | {r['wrong_scores']} | {r['republished']} | {r['seconds']:.0f}"
            )
        return lines


RESULTS = Results()


def handoff(fact: Fact) -> str:
    return str(fact.data.get("handoff_id"))


def _distinct_per(facts: Iterable[Fact], key: Callable[[Fact], str]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = defaultdict(set)
    for f in facts:
        out[key(f)].add(f.id)
    return out


async def settle(
    rig: Rig,
    http: httpx.AsyncClient,
    load: Load,
    *,
    faults: str,
    started: float,
    within: float = 90,
) -> Outcome:
    """Wait for the fault-free end state of `load`, then count every fact and compare."""
    want = expected(load)
    watches = {t: TopicWatch(rig.bootstrap, t, load.leads) for t in WATCHED}
    groups = GroupProbe(rig.bootstrap)
    await groups.start()
    for w in watches.values():
        await w.start()
    try:
        answered: set[str] = set()

        waiting: list[str] = ["nothing read yet"]
        previous_ends: dict[str, dict[int, int]] = {}

        async def quiet() -> bool:
            """True once complete and quiet; else `waiting` says what is missing."""
            for w in watches.values():
                await w.poll()
            await _accept_demo_requests(http, rig, want, watches, answered)
            if not _complete(load, want, watches):
                waiting[:] = [_missing(load, want, watches)]
            elif not all(w.caught_up() for w in watches.values()):
                waiting[:] = ["a topic read to its end"]
            elif unsent := {k: v for k, v in (await unsent_outbox_rows(rig.dsn)).items() if v}:
                waiting[:] = [f"unsent outbox rows {unsent}"]
            elif due := await timers_due(rig.dsn, load.leads):
                waiting[:] = [f"{due} due timers to fire"]
            elif behind := await groups.behind(watches):
                waiting[:] = [f"consumer groups behind: {behind[:3]}"]
            else:
                # Quiet twice in a row with the same ends: a record published between this
                # look's fetch and its outbox check would have moved an end.
                ends = {t: dict(w.high) for t, w in watches.items()}
                if ends == previous_ends:
                    return True
                previous_ends.clear()
                previous_ends.update(ends)
                waiting[:] = ["a second quiet look"]
                return False
            previous_ends.clear()
            return False

        await until(quiet, lambda: f"the end state of {load.scenario}: {waiting[0]}", within)
        # Quiet: everything published is on the topics; read it all once more to the end.
        for w in watches.values():
            await w.poll(50)
        outcome = await _compare(http, rig, load, want, watches)
    finally:
        for w in watches.values():
            await w.stop()
        await groups.stop()
    outcome.faults = faults
    outcome.seconds = time.monotonic() - started
    RESULTS.add(outcome)
    assert not outcome.problems, "\n".join(outcome.problems[:20])
    return outcome


def _complete(load: Load, want: Expected, watches: dict[str, TopicWatch]) -> bool:
    """Every fact the fault-free run would have made is on the topics (at least once)."""
    mqls = {f.lead for f in watches[scoring.TOPIC].of_type("handoff.lead.mql")}
    assigned = watches[routing.TOPIC].of_type("handoff.lead.assigned")
    fired = Counter(f.type for f in watches[sla.TOPIC].facts)
    accepted = watches[routing.TOPIC].of_type("handoff.lead.accepted")
    signal_ids = {f.id for f in watches[signals.TOPIC].facts}
    late = len(want.mqls) - len(want.accepted)
    return (
        signal_ids >= set(load.event_ids())
        and mqls >= set(want.mqls)
        and len({f.data.get("mql_id") for f in assigned}) >= len(want.mqls)
        and all(fired[k] >= late for k in FIRINGS)
        and len({f.lead for f in accepted}) >= len(want.accepted)
        and fired["handoff.sla.met"] >= len(want.accepted)
    )


async def _accept_demo_requests(
    http: httpx.AsyncClient,
    rig: Rig,
    want: Expected,
    watches: dict[str, TopicWatch],
    answered: set[str],
) -> None:
    """The rep accepts each demo request's handoff once it is assigned (once: `answered`)."""
    for f in watches[routing.TOPIC].of_type("handoff.lead.assigned"):
        handoff = str(f.data.get("handoff_id"))
        if f.lead not in want.accepted or handoff in answered:
            continue
        with contextlib.suppress(httpx.HTTPError):
            resp = await http.post(
                f"{rig.url('routing')}/v1/handoffs/{handoff}/accept",
                json={"rep_id": f.data.get("rep_id")},
            )
            # 409 "accepted": an earlier try went through, its answer was lost.
            if resp.status_code == 200 or resp.json().get("state") == "accepted":
                answered.add(handoff)


def _missing(load: Load, want: Expected, watches: dict[str, TopicWatch]) -> str:
    signal_ids = {f.id for f in watches[signals.TOPIC].facts} & set(load.event_ids())
    mqls = {f.lead for f in watches[scoring.TOPIC].of_type("handoff.lead.mql")}
    assigned = {
        f.data.get("mql_id") for f in watches[routing.TOPIC].of_type("handoff.lead.assigned")
    }
    fired = Counter(f.type for f in watches[sla.TOPIC].facts)
    accepted = {f.lead for f in watches[routing.TOPIC].of_type("handoff.lead.accepted")}
    late = len(want.mqls) - len(want.accepted)
    return (
        f"signals {len(signal_ids)}/{len(load.signals)}, MQLs {len(mqls & set(want.mqls))}/"
        f"{len(want.mqls)}, assignments {len(assigned)}/{len(want.mqls)}, accepted "
        f"{len(accepted)}/{len(want.accepted)}, met {fired['handoff.sla.met']}/"
        f"{len(want.accepted)}, "
        + ", ".join(f"{k.rsplit('.', 1)[1]} {fired[k]}/{late}" for k in FIRINGS)
    )


def count_facts(load: Load, want: Expected, facts: dict[str, list[Fact]]) -> Outcome:
    """Compare what the topics hold for the load with the fault-free expectation, fact by
    fact: one distinct CloudEvent id per fact is right, none is lost, more are duplicates."""
    out = Outcome(load.scenario, load.describe(), "", leads=len(load.leads))
    problems = out.problems

    def count(kind: str, got: dict[str, set[str]], expect: Iterable[str]) -> None:
        expect = set(expect)
        for key in sorted(expect - set(got)):
            out.lost += 1
            problems.append(f"{kind} lost: {key}")
        for key, ids in sorted(got.items()):
            extra = len(ids) - (1 if key in expect else 0)
            if extra:
                out.duplicated += extra
                problems.append(f"{kind} duplicated: {key} has {len(ids)}: {sorted(ids)}")

    for topic_facts in facts.values():
        out.republished += len(topic_facts) - len({f.id for f in topic_facts})
    of_type = {t: [f for fs in facts.values() for f in fs if f.type == t] for t in _TYPES}

    count("signal", _distinct_per(facts[signals.TOPIC], lambda f: f.id), load.event_ids())

    mqls = _distinct_per(
        of_type["handoff.lead.mql"], lambda f: f"{f.lead} cycle {f.data.get('cycle')}"
    )
    count("MQL", mqls, (f"{lead} cycle 1" for lead in want.mqls))
    out.mqls = len(want.mqls)

    assigned = of_type["handoff.lead.assigned"]
    by_mql = _distinct_per(assigned, lambda f: str(f.data.get("mql_id")))
    count("assignment", by_mql, want.mqls.values())
    for f in of_type["handoff.lead.unassigned"]:
        problems.append(f"an MQL found no rep: {f.data}")
    out.assignments = len(by_mql)

    # Every assignment arms one timer: a demo request's is accepted (met once, with one
    # handoff.lead.accepted); any other breaches once and escalates once.
    lead_of = {str(f.data.get("handoff_id")): f.lead for f in assigned}
    accepted = {h for h, lead in lead_of.items() if lead in want.accepted}
    late = set(lead_of) - accepted
    out.timers = len(lead_of)
    count(
        "handoff.lead.accepted", _distinct_per(of_type["handoff.lead.accepted"], handoff), accepted
    )
    count("handoff.sla.met", _distinct_per(of_type["handoff.sla.met"], handoff), accepted)
    for kind in FIRINGS:
        count(kind, _distinct_per(of_type[kind], handoff), late)
    return out


_TYPES = (
    "handoff.lead.mql",
    "handoff.lead.assigned",
    "handoff.lead.unassigned",
    "handoff.lead.accepted",
    "handoff.sla.met",
    *FIRINGS,
)


async def _compare(
    http: httpx.AsyncClient, rig: Rig, load: Load, want: Expected, watches: dict[str, TopicWatch]
) -> Outcome:
    out = count_facts(load, want, {t: w.facts for t, w in watches.items()})
    problems = out.problems
    for w in watches.values():
        if w.unreadable:
            problems.append(f"{w.unreadable} unreadable records on {w.topic}")
    for lead, score in want.scores.items():
        resp = await http.get(f"{rig.url('scoring')}/v1/leads/{lead}/score")
        got = resp.json() if resp.status_code == 200 else {}
        state = "mql" if lead in want.mqls else "open"
        if got.get("score") != score or (got.get("mql") or {}).get("state") != state:
            out.wrong_scores += 1
            problems.append(
                f"score of {lead}: want {score} {state}, got {resp.status_code} "
                f"{got.get('score')} {(got.get('mql') or {}).get('state')}"
            )
    unsent = {s: n for s, n in (await unsent_outbox_rows(rig.dsn)).items() if n}
    if unsent:
        problems.append(f"unsent outbox rows: {unsent}")
    return out
