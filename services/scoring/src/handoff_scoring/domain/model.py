"""The scoring model marketing ops write: behaviour and fit rules, decay, MQL triggers,
disqualifiers and cycles. Built from config/scoring.yaml by config.py; pure data plus matching."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from handoff.expressions import Condition
from handoff_scoring.domain.titles import seniority

# Activity properties kept in a lead's history, and the ones a rule may test with `where`.
KEPT_PROPERTIES = ("url", "asset", "campaign", "form", "source")
DAY = 86_400.0

Props = dict[str, str]


def history_properties(properties: dict[str, Any], source: str) -> Props | None:
    """The properties of an activity that rules can test, as text, with the signal's source
    unless it came through the API; the rest are not kept in the history."""
    props = {k: str(properties[k]) for k in KEPT_PROPERTIES if properties.get(k) is not None}
    if source != "api":
        props["source"] = source
    return props or None


@dataclass(frozen=True, slots=True)
class Match:
    """An activity type plus optional conditions on its properties (each a compiled glob)."""

    activity: str
    where: tuple[tuple[str, re.Pattern[str]], ...] = ()

    def matches(self, kind: str, props: Props | None) -> bool:
        if kind != self.activity:
            return False
        for key, pattern in self.where:
            value = props.get(key) if props else None
            if value is None or pattern.fullmatch(value) is None:
                return False
        return True


@dataclass(frozen=True, slots=True)
class BehaviourRule:
    """Points for an activity. repeat: every, once (per cycle), per_day or per_window (at most
    `limit` counted activities per UTC day or per rolling `window` seconds)."""

    name: str
    match: Match
    points: int
    repeat: str = "every"
    limit: int = 0
    window: float = 0.0
    cap: int | None = None  # the most this rule can add (or take away, for negative points)
    lifespan: float | None = None  # seconds after which one activity's points are gone
    label: str | None = None  # how the rep's sentence says it, e.g. "visited pricing"


@dataclass(frozen=True, slots=True)
class TraitTest:
    """Conditions on traits; all given ones must hold. Used by fit rules and disqualifiers."""

    company_size: tuple[int | None, int | None] | None = None
    industry: frozenset[str] | None = None  # case-folded
    seniority: frozenset[str] | None = None
    title: re.Pattern[str] | None = None
    country: frozenset[str] | None = None  # case-folded
    region: frozenset[str] | None = None  # case-folded
    email_domain: frozenset[str] | None = None  # "gmail.com" or a suffix ".ac.jp"

    def holds(self, facts: TraitFacts) -> bool:
        if self.company_size is not None:
            lo, hi = self.company_size
            if facts.size is None or (lo is not None and facts.size < lo):
                return False
            if hi is not None and facts.size > hi:
                return False
        if self.industry is not None and facts.industry not in self.industry:
            return False
        if self.seniority is not None and facts.seniority not in self.seniority:
            return False
        if self.title is not None and (facts.title is None or not self.title.search(facts.title)):
            return False
        if self.country is not None and facts.country not in self.country:
            return False
        if self.region is not None and facts.region not in self.region:
            return False
        if self.email_domain is not None:
            domain = facts.email_domain
            if domain is None or self.email_domain.isdisjoint(facts.domain_keys):
                return False
        return True


def domain_keys(domain: str) -> tuple[str, ...]:
    """What a domain matches: itself, each parent domain, and each suffix written with a
    leading dot. mail.keio.ac.jp -> mail.keio.ac.jp, keio.ac.jp, .keio.ac.jp, ac.jp, .ac.jp,
    jp, .jp (a pattern "example.com" also matches mail.example.com; ".ac.jp" any *.ac.jp)."""
    labels = domain.split(".")
    keys = [domain, "." + domain]
    for i in range(1, len(labels)):
        parent = ".".join(labels[i:])
        keys += [parent, "." + parent]
    return tuple(keys)


@dataclass(frozen=True, slots=True)
class TraitFacts:
    """The traits fit rules look at, normalised once per change of traits."""

    size: int | None
    industry: str | None
    seniority: str | None
    title: str | None
    country: str | None
    region: str | None
    email_domain: str | None
    domain_keys: tuple[str, ...]

    @classmethod
    def of(cls, traits: dict[str, Any]) -> TraitFacts:
        company = traits.get("company") or {}
        email = traits.get("email")
        domain = (
            email.rsplit("@", 1)[1].strip().lower()
            if isinstance(email, str) and "@" in email
            else None
        )
        size = company.get("size")
        title = traits.get("title")
        return cls(
            size=size if isinstance(size, int) else None,
            industry=_fold(company.get("industry")),
            seniority=seniority(title if isinstance(title, str) else None),
            title=title if isinstance(title, str) else None,
            country=_fold(company.get("country")),
            region=_fold(company.get("region")),
            email_domain=domain,
            domain_keys=domain_keys(domain) if domain else (),
        )


def _fold(value: Any) -> str | None:
    return value.strip().casefold() if isinstance(value, str) and value.strip() else None


@dataclass(frozen=True, slots=True)
class FitRule:
    name: str
    test: TraitTest
    points: int


@dataclass(frozen=True, slots=True)
class Disqualifier:
    """A disqualifying signal: traits (competitor or free-mail domain, a student) or an activity
    (unsubscribe). An activity disqualifies for good; traits only while they hold."""

    name: str
    reason: str
    test: TraitTest | None = None
    match: Match | None = None


@dataclass(frozen=True, slots=True)
class Counter:
    """Activities counted within a window, offered to criteria as count.<name>."""

    name: str
    matches: tuple[Match, ...]
    within: float


@dataclass(frozen=True, slots=True)
class Sequence:
    """Each step in order, the last within `within` seconds of the first."""

    name: str
    steps: tuple[Match, ...]
    within: float


@dataclass(frozen=True, slots=True)
class Criterion:
    name: str
    condition: Condition
    counters: tuple[str, ...]  # the counters it reads: checked when one of them counts
    reads_scores: bool  # names score, engagement or fit: checked at every activity


@dataclass(frozen=True, slots=True)
class Reopen:
    """What a sales disposition does to the MQL cycle: reopen after `after` seconds, or never."""

    after: float | None


@dataclass(frozen=True, slots=True)
class ScoreChanged:
    every: float  # at most one event per lead per this many seconds of event time
    min_change: int


@dataclass(frozen=True, slots=True)
class Plan:
    rules: tuple[int, ...]  # behaviour rules that score it
    instant: str | None  # the instant trigger it fires
    sequences: tuple[int, ...]  # sequences whose last step it is
    # Sequences it is a step of, before the last: (sequence, the step indexes, highest first).
    chain_steps: tuple[tuple[int, tuple[int, ...]], ...]
    criteria: tuple[int, ...]  # criteria that count it
    counters: frozenset[str]  # counters that count it
    disqualifier: int | None  # the activity disqualifier it matches


@dataclass(frozen=True)
class ScoringModel:
    version: str
    threshold: int
    rules: tuple[BehaviourRule, ...]
    default_points: int = 0
    engagement_cap: int | None = None
    half_life: float | None = None
    reset_after: float | None = None
    fit_rules: tuple[FitRule, ...] = ()
    fit_cap: int | None = None
    grades: tuple[tuple[str, int], ...] = (("A", 40), ("B", 25), ("C", 10))
    instant: tuple[tuple[str, Match], ...] = ()
    sequences: tuple[Sequence, ...] = ()
    trigger_labels: dict[str, str] = field(default_factory=dict)  # trigger name -> phrase
    criteria: tuple[Criterion, ...] = ()
    counters: dict[str, Counter] = field(default_factory=dict)
    disqualifiers: tuple[Disqualifier, ...] = ()
    nurture: Reopen = Reopen(90 * DAY)
    sales_disqualified: Reopen = Reopen(None)
    score_changed: ScoreChanged | None = None
    retention: float = 365 * DAY
    max_activities: int = 1000
    _by_kind: dict[str, tuple[int, ...]] = field(default_factory=dict, repr=False, compare=False)
    _conditional: frozenset[str] = field(default=frozenset(), repr=False, compare=False)
    _plans: dict[Any, Plan] = field(default_factory=dict, repr=False, compare=False)
    _known: frozenset[str] = field(default=frozenset(), repr=False, compare=False)
    _all: tuple[BehaviourRule, ...] = field(default=(), repr=False, compare=False)
    _dq_kinds: frozenset[str] = field(default=frozenset(), repr=False, compare=False)

    def __post_init__(self) -> None:
        by_kind: dict[str, list[int]] = {}
        for n, rule in enumerate(self.rules):
            by_kind.setdefault(rule.match.activity, []).append(n)
        self._by_kind.update({k: tuple(v) for k, v in by_kind.items()})
        conditional = {r.match.activity for r in self.rules if r.match.where}
        known = set(by_kind)
        known.update(m.activity for _, m in self.instant)
        known.update(m.activity for s in self.sequences for m in s.steps)
        known.update(m.activity for c in self.counters.values() for m in c.matches)
        known.update(d.match.activity for d in self.disqualifiers if d.match)
        object.__setattr__(self, "_conditional", frozenset(conditional))
        object.__setattr__(self, "_known", frozenset(known))
        dq_kinds = frozenset(d.match.activity for d in self.disqualifiers if d.match)
        object.__setattr__(self, "_dq_kinds", dq_kinds)
        default = BehaviourRule("default", Match("*"), self.default_points)
        object.__setattr__(self, "_all", (*self.rules, default))

    @property
    def default_rule(self) -> int:
        """Index of the pseudo-rule that scores activity types no rule names."""
        return len(self.rules)

    def plan_for(self, kind: str, props: Props | None) -> Plan:
        """Everything one activity does under this model, worked out once per kind and
        properties: the hot path looks it up instead of matching every rule again."""
        key: Any = kind
        if props:
            get = props.get
            key = (kind, get("url"), get("asset"), get("campaign"), get("form"), get("source"))
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plan(kind, props)
            if len(self._plans) < 50_000:
                self._plans[key] = plan
        return plan

    def _plan(self, kind: str, props: Props | None) -> Plan:
        rules = tuple(
            n for n in self._by_kind.get(kind, ()) if self.rules[n].match.matches(kind, props)
        )
        if kind not in self._known and self.default_points:
            rules = (self.default_rule,)
        return Plan(
            rules=rules,
            instant=next((name for name, m in self.instant if m.matches(kind, props)), None),
            sequences=tuple(
                n for n, s in enumerate(self.sequences) if s.steps[-1].matches(kind, props)
            ),
            chain_steps=tuple(
                (n, taken)
                for n, s in enumerate(self.sequences)
                if (
                    taken := tuple(
                        k
                        for k in range(len(s.steps) - 2, -1, -1)
                        if s.steps[k].matches(kind, props)
                    )
                )
            ),
            criteria=tuple(
                n
                for n, c in enumerate(self.criteria)
                if any(
                    m.matches(kind, props)
                    for name in c.counters
                    for m in self.counters[name].matches
                )
            ),
            counters=frozenset(
                name
                for name, c in self.counters.items()
                if any(m.matches(kind, props) for m in c.matches)
            ),
            disqualifier=next(
                (
                    n
                    for n, d in enumerate(self.disqualifiers)
                    if d.match and d.match.matches(kind, props)
                ),
                None,
            ),
        )

    def rules_for(self, kind: str, props: Props | None) -> tuple[int, ...]:
        """Indexes of the behaviour rules this activity earns points from (every match counts)."""
        return self.plan_for(kind, props).rules

    def rule(self, n: int) -> BehaviourRule:
        return self._all[n]

    def grade(self, fit: int) -> str:
        for grade, minimum in self.grades:
            if fit >= minimum:
                return grade
        return "D"
