"""Routing decisions, pure: rules in order, account matching, weighted round robin and its
fairness, least loaded, capacity, working hours across time zones, leave, and the trace."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, time, timedelta

import pytest

from handoff.expressions import compile_condition
from handoff_routing.domain.decision import DEFAULT_POOL_RULE, Decision, decide, from_pool
from handoff_routing.domain.roster import (
    LEAST_LOADED,
    Absence,
    Account,
    Candidate,
    Conditions,
    Load,
    Pool,
    Rep,
    Roster,
    WorkingHours,
    choose,
    wheel,
)
from handoff_routing.domain.rules import (
    ACCOUNT,
    CONDITION,
    VARIABLES,
    LeadFacts,
    Rule,
    domain_candidates,
    normalize_domain,
    size_band,
)

T0 = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)  # Monday 10:00 in Tokyo, Sunday 20:00 in New York
WEEKDAYS_9_TO_6 = WorkingHours(frozenset(range(5)), time(9), time(18))


def rep(rep_id: str, **kw: object) -> Rep:
    return Rep(rep_id, rep_id.title(), f"{rep_id}@example.com", "inside-sales", **kw)  # type: ignore[arg-type]


def team(*reps: Rep, strategy: str = "round_robin", accounts: tuple[Account, ...] = ()) -> Roster:
    return Roster(
        reps={r.id: r for r in reps},
        pools={"inside-sales": Pool("inside-sales", tuple(r.id for r in reps), strategy)},
        default_pool="inside-sales",
        accounts={a.domain: a for a in accounts},
    )


def route(
    roster: Roster,
    pointers: dict[str, int] | None = None,
    *,
    facts: LeadFacts | None = None,
    rules: tuple[Rule, ...] = (),
    c: Conditions | None = None,
) -> Decision:
    return decide(
        roster,
        rules,
        facts or LeadFacts(),
        {} if pointers is None else pointers,
        c or Conditions(T0),
    )


def when(name: str, source: str, pool: str, *, hours: bool = False) -> Rule:
    return Rule(
        name,
        CONDITION,
        pool=pool,
        condition=compile_condition(source, VARIABLES),
        respect_hours=hours,
    )


# Round robin


def test_round_robin_hands_leads_to_members_in_the_listed_order() -> None:
    roster = team(rep("aiko"), rep("kenji"), rep("emma"))
    pointers: dict[str, int] = {}
    chosen = [route(roster, pointers).rep_id for _ in range(4)]
    assert chosen == ["aiko", "kenji", "emma", "aiko"]


def test_round_robin_starts_from_the_stored_position() -> None:
    roster = team(rep("aiko"), rep("kenji"), rep("emma"))
    chosen, position, _ = choose(roster.pools["inside-sales"], roster, 2, Conditions(T0))
    assert chosen is not None and chosen.id == "emma"
    assert position == 0


def test_round_robin_skips_inactive_reps_and_says_why() -> None:
    roster = team(rep("aiko"), rep("yui", active=False), rep("kenji"))
    chosen, position, looked_at = choose(roster.pools["inside-sales"], roster, 1, Conditions(T0))
    assert chosen is not None and chosen.id == "kenji"
    assert position == 0
    assert looked_at == (Candidate("yui", "inactive"), Candidate("kenji"))


def test_round_robin_skips_a_member_missing_from_the_roster() -> None:
    roster = Roster({"aiko": rep("aiko")}, {"p": Pool("p", ("ghost", "aiko"))}, "p")
    chosen, _, looked_at = choose(roster.pools["p"], roster, 0, Conditions(T0))
    assert chosen is not None and chosen.id == "aiko"
    assert looked_at[0] == Candidate("ghost", "not on the roster")


def test_a_pool_without_available_reps_chooses_nobody_and_keeps_its_position() -> None:
    roster = team(rep("aiko", active=False), rep("yui", active=False))
    chosen, position, looked_at = choose(roster.pools["inside-sales"], roster, 1, Conditions(T0))
    assert chosen is None
    assert position == 1
    assert sorted(c.skipped or "" for c in looked_at) == ["inactive", "inactive"]


def test_an_inactive_rep_does_not_double_the_next_reps_share() -> None:
    roster = team(rep("aiko"), rep("yui", active=False), rep("kenji"), rep("emma"))
    pointers: dict[str, int] = {}
    chosen = [route(roster, pointers).rep_id for _ in range(6)]
    assert chosen == ["aiko", "kenji", "emma", "aiko", "kenji", "emma"]


def test_the_weighted_wheel_spreads_a_heavy_rep_s_turns() -> None:
    roster = team(rep("aiko", weight=3), rep("kenji"))
    assert wheel(roster.pools["inside-sales"], roster.reps) == (0, 0, 1, 0)


@pytest.mark.parametrize(
    "weights",
    [(1, 1, 1, 1), (1, 2, 3, 4), (5, 1, 1, 3, 2, 7), (100, 1)],
)
def test_over_10000_assignments_each_rep_s_share_is_within_2_percent_of_its_weight(
    weights: tuple[int, ...],
) -> None:
    reps = [rep(f"rep{n}", weight=w) for n, w in enumerate(weights)]
    roster = team(*reps)
    pointers: dict[str, int] = {}
    counts = Counter(route(roster, pointers).rep_id for _ in range(10_000))
    total = sum(weights)
    for r in reps:
        assert abs(counts[r.id] / 10_000 - r.weight / total) <= 0.02, (r.id, counts)


def test_shares_stay_fair_by_weight_among_the_reps_left_when_one_is_away() -> None:
    weights = {"aiko": 1, "yui": 2, "kenji": 3, "emma": 4}
    reps = [rep(k, weight=w, active=k != "yui") for k, w in weights.items()]
    roster = team(*reps)
    pointers: dict[str, int] = {}
    counts = Counter(route(roster, pointers).rep_id for _ in range(10_000))
    assert "yui" not in counts
    left = sum(w for k, w in weights.items() if k != "yui")
    for name in ("aiko", "kenji", "emma"):
        assert abs(counts[name] / 10_000 - weights[name] / left) <= 0.05, counts


# Least loaded


def test_least_loaded_picks_the_rep_with_fewest_open_handoffs() -> None:
    roster = team(rep("aiko"), rep("kenji"), rep("emma"), strategy=LEAST_LOADED)
    loads = {"aiko": Load(open=4), "kenji": Load(open=1), "emma": Load(open=2)}
    decision = route(roster, c=Conditions(T0, loads))
    assert decision.rep_id == "kenji"
    assert decision.steps[-1].candidates[0] == Candidate("aiko", "more open handoffs (4 vs 1)")
    assert loads["kenji"].open == 2  # counted, so the next lead of the batch sees it


def test_least_loaded_spreads_a_batch_evenly() -> None:
    roster = team(rep("aiko"), rep("kenji"), strategy=LEAST_LOADED)
    c = Conditions(T0, {"aiko": Load(open=3)})
    pointers: dict[str, int] = {}
    chosen = [route(roster, pointers, c=c).rep_id for _ in range(5)]
    assert chosen == ["kenji", "kenji", "kenji", "aiko", "kenji"]


# Capacity


def test_a_rep_at_capacity_is_skipped_until_a_handoff_is_accepted() -> None:
    roster = team(rep("aiko", max_open=2), rep("kenji"))
    decision = route(roster, c=Conditions(T0, {"aiko": Load(open=2)}))
    assert decision.rep_id == "kenji"
    assert decision.steps[-1].candidates[0] == Candidate("aiko", "at capacity (2 open, max 2)")
    assert route(roster, c=Conditions(T0, {"aiko": Load(open=1)})).rep_id == "aiko"


def test_the_daily_cap_counts_assignments_made_within_the_batch() -> None:
    roster = team(rep("aiko", daily_cap=2), rep("kenji", daily_cap=1))
    c = Conditions(T0, {"aiko": Load(today=1)})
    pointers: dict[str, int] = {}
    chosen = [route(roster, pointers, c=c).rep_id for _ in range(3)]
    assert chosen == ["aiko", "kenji", None]


def test_the_daily_cap_day_starts_at_the_rep_s_local_midnight() -> None:
    tokyo = rep("aiko", timezone="Asia/Tokyo")
    assert tokyo.day_start(T0) == datetime(2026, 11, 22, 15, 0, tzinfo=UTC)
    assert rep("emma").day_start(T0) == datetime(2026, 11, 23, 0, 0, tzinfo=UTC)


# Working hours and leave


def test_working_hours_are_judged_in_each_rep_s_time_zone() -> None:
    tokyo = rep("aiko", timezone="Asia/Tokyo", working_hours=WEEKDAYS_9_TO_6)
    new_york = rep("dan", timezone="America/New_York", working_hours=WEEKDAYS_9_TO_6)
    assert tokyo.at_work(T0)  # Monday 10:00 JST
    assert not new_york.at_work(T0)  # Sunday 20:00 EST
    assert new_york.at_work(T0 + timedelta(hours=14))  # Monday 10:00 EST
    assert not tokyo.at_work(T0 + timedelta(hours=14))  # Tuesday 00:00 JST


def test_a_rule_that_asks_for_working_hours_skips_reps_off_duty() -> None:
    roster = team(
        rep("dan", timezone="America/New_York", working_hours=WEEKDAYS_9_TO_6),
        rep("aiko", timezone="Asia/Tokyo", working_hours=WEEKDAYS_9_TO_6),
    )
    rule = when("all", "true", "inside-sales", hours=True)
    decision = route(roster, rules=(rule,))
    assert decision.rep_id == "aiko"
    assert decision.steps[-1].candidates[0] == Candidate("dan", "outside working hours")
    assert route(roster).rep_id == "dan"  # the default pool does not ask


def test_a_rep_out_of_office_is_skipped_and_back_afterwards() -> None:
    leave = Absence(T0 - timedelta(days=1), T0 + timedelta(hours=1))
    roster = team(rep("aiko", out_of_office=(leave,)), rep("kenji"))
    decision = route(roster)
    assert decision.rep_id == "kenji"
    assert decision.steps[-1].candidates[0] == Candidate("aiko", "out of office")
    assert route(roster, c=Conditions(T0 + timedelta(hours=1))).rep_id == "aiko"


def test_nobody_available_leaves_the_lead_unassigned_in_the_matching_pool() -> None:
    roster = team(rep("aiko", active=False))
    decision = route(roster)
    assert decision.rep_id is None
    assert decision.pool == "inside-sales"
    assert decision.unassigned_reason == "no rep available in pool 'inside-sales'"


def test_a_queued_lead_is_offered_only_to_reps_who_have_not_had_it() -> None:
    roster = team(rep("aiko"), rep("kenji"))
    c = Conditions(T0, exclude=frozenset({"aiko"}))
    decision = from_pool(roster, "queue", "inside-sales", {}, c)
    assert decision.rep_id == "kenji"
    assert decision.steps[-1].candidates[0] == Candidate("aiko", "already had this lead")


# Rules


def territory_team() -> Roster:
    reps = [rep(r) for r in ("aiko", "haruto", "emma", "takeshi")]
    return Roster(
        reps={r.id: r for r in reps},
        pools={
            "jp-tokyo": Pool("jp-tokyo", ("aiko",)),
            "jp-osaka": Pool("jp-osaka", ("haruto",)),
            "enterprise": Pool("enterprise", ("takeshi",)),
            "inside-sales": Pool("inside-sales", ("emma",)),
        },
        default_pool="inside-sales",
        accounts={"sakura.co.jp": Account("sakura.co.jp", "Sakura", "takeshi")},
    )


RULES = (
    Rule("accounts", ACCOUNT, fallback_pool="enterprise"),
    when("tokyo", 'country == "JP" && region == "Tokyo"', "jp-tokyo"),
    when("osaka", 'country == "JP" && prefecture in ["Osaka", "Kyoto"]', "jp-osaka"),
    when("big", 'size_band == "1000+"', "enterprise"),
    when("demo-requests", 'trigger == "activity" && source == "webinar"', "jp-tokyo"),
)


@pytest.mark.parametrize(
    ("facts", "rule", "rep_id"),
    [
        (LeadFacts.of(country="jp", region="Tokyo"), "tokyo", "aiko"),
        (LeadFacts.of(country="JP", region="Kyoto"), "osaka", "haruto"),
        (LeadFacts.of(country="US", company_size=5000), "big", "takeshi"),
        (LeadFacts.of(trigger="activity", source="webinar"), "demo-requests", "aiko"),
        (LeadFacts.of(country="DE"), DEFAULT_POOL_RULE, "emma"),
        (LeadFacts.of(country="JP"), DEFAULT_POOL_RULE, "emma"),  # no region: no territory
    ],
)
def test_the_first_matching_rule_decides(facts: LeadFacts, rule: str, rep_id: str) -> None:
    decision = route(territory_team(), facts=facts, rules=RULES)
    assert (decision.rule, decision.rep_id) == (rule, rep_id)


def test_the_trace_lists_every_rule_tried_in_order() -> None:
    decision = route(
        territory_team(), facts=LeadFacts.of(country="JP", region="Osaka"), rules=RULES
    )
    assert [(s.rule, s.matched) for s in decision.steps] == [
        ("accounts", False),
        ("tokyo", False),
        ("osaka", True),
    ]
    assert decision.steps[0].note == "no account for no email or company domain"
    assert decision.steps[-1].candidates == (Candidate("haruto"),)


@pytest.mark.parametrize(
    ("email", "company_domain"),
    [
        ("taro@sakura.co.jp", None),
        ("taro@Tokyo.Sales.SAKURA.co.jp", None),
        (None, "https://www.sakura.co.jp/about"),
        ("taro@gmail.com", "WWW.SAKURA.CO.JP"),
    ],
)
def test_an_account_s_owner_gets_leads_from_its_domain_and_subdomains(
    email: str | None, company_domain: str | None
) -> None:
    facts = LeadFacts.of(email=email, company_domain=company_domain, country="JP", region="Tokyo")
    decision = route(territory_team(), facts=facts, rules=RULES)
    assert (decision.rule, decision.rep_id, decision.pool) == (
        "accounts",
        "takeshi",
        "account:sakura.co.jp",
    )


def test_an_unavailable_owner_s_lead_goes_to_the_rule_s_fallback_pool() -> None:
    roster = territory_team()
    roster = Roster(
        {**roster.reps, "takeshi": rep("takeshi", active=False), "sophia": rep("sophia")},
        {**roster.pools, "enterprise": Pool("enterprise", ("takeshi", "sophia"))},
        roster.default_pool,
        roster.accounts,
    )
    decision = route(roster, facts=LeadFacts.of(email="a@sakura.co.jp"), rules=RULES)
    assert (decision.rule, decision.pool, decision.rep_id) == ("accounts", "enterprise", "sophia")
    assert decision.steps[0].candidates == (Candidate("takeshi", "inactive"),)
    assert "falling back to pool 'enterprise'" in (decision.steps[0].note or "")


def test_a_lead_from_a_similar_but_different_domain_is_not_the_account_s() -> None:
    facts = LeadFacts.of(email="a@notsakura.co.jp")
    assert route(territory_team(), facts=facts, rules=RULES).rule == DEFAULT_POOL_RULE


def test_domains_are_normalized() -> None:
    assert normalize_domain(" https://WWW.Acme.co.jp:443/x ") == "acme.co.jp"
    assert normalize_domain("someone@Mail.Acme.com") == "mail.acme.com"
    assert normalize_domain("") is None
    assert domain_candidates("a.b.acme.co.jp") == [
        "a.b.acme.co.jp",
        "b.acme.co.jp",
        "acme.co.jp",
        "co.jp",
    ]


@pytest.mark.parametrize(
    ("size", "band"),
    [(None, None), (0, None), (1, "1-49"), (50, "50-249"), (999, "250-999"), (1000, "1000+")],
)
def test_company_sizes_fall_into_bands(size: int | None, band: str | None) -> None:
    assert size_band(size) == band
