"""Loading config/routing.yaml: the shipped file works; each mistake names file, line and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from handoff.config_file import ConfigError
from handoff_routing.config import load_config
from handoff_routing.domain.reasons import FollowUp
from handoff_routing.settings import RoutingSettings

REPO = Path(__file__).resolve().parents[3]

GOOD = """\
reps:
  - id: aiko.tanaka
    name: 田中 愛子
    email: aiko.tanaka@example.co.jp
    team: inside-sales-jp
    timezone: Asia/Tokyo
  - id: emma.clark
    name: Emma Clark
    email: emma.clark@example.com
    team: inside-sales-global
    active: false
pools:
  - name: inside-sales
    strategy: round_robin
    members: [aiko.tanaka, emma.clark]
default_pool: inside-sales
reason_codes:
  - code: no_budget
    label_en: No budget
    label_ja: 予算なし
    follow_up: recycle
    recycle_days: 90
  - code: duplicate
    label_en: Duplicate
    label_ja: 重複
    follow_up: disqualify
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "routing.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def load_error(tmp_path: Path, text: str) -> ConfigError:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.path == path
    return caught.value


def line_of(text: str, fragment: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if fragment in line)


def test_the_shipped_routing_yaml_describes_a_team_and_the_reason_codes() -> None:
    config = load_config(REPO / "config" / "routing.yaml")
    roster = config.roster()
    assert roster.default_pool == "inside-sales"
    assert set(roster.pools["inside-sales"].members) <= set(roster.reps)
    assert [r.id for r in roster.reps.values() if not r.active] == ["yui.nakamura"]
    assert [r.name for r in config.rules] == ["named-accounts", "enterprise-size", "tokyo", "osaka"]
    assert roster.accounts["sakura-systems.co.jp"].owner == "takeshi.ito"
    assert roster.pools["enterprise"].strategy == "least_loaded"
    assert roster.reps["kenji.sato"].weight == 2
    assert config.reasons.known() == (
        "not_decision_maker",
        "no_budget",
        "bad_contact_info",
        "already_customer_of_competitor",
        "do_not_call",
        "student_or_personal",
        "duplicate",
        "wrong_territory",
        "not_now",
    )
    labels = {c.code: c.label_ja for c in config.reasons}
    assert labels["do_not_call"] == "架電NG"
    assert labels["already_customer_of_competitor"] == "競合製品を利用中"


def test_a_valid_file_becomes_the_roster_and_reason_codes(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD))
    assert config.roster().pools["inside-sales"].members == ("aiko.tanaka", "emma.clark")
    assert config.roster().reps["aiko.tanaka"].timezone == "Asia/Tokyo"
    assert config.roster().reps["emma.clark"].active is False
    no_budget = config.reasons.get("no_budget")
    assert no_budget is not None and no_budget.follow_up is FollowUp.RECYCLE
    assert no_budget.recycle_days == 90


def test_a_pool_member_who_is_not_a_rep_is_named_with_its_line(tmp_path: Path) -> None:
    text = GOOD.replace(
        "members: [aiko.tanaka, emma.clark]", "members:\n      - aiko.tanaka\n      - kenji.sato"
    )
    error = load_error(tmp_path, text)
    assert error.key == "pools[0].members[1]"
    assert error.line == line_of(text, "- kenji.sato")
    assert "no rep with id 'kenji.sato'" in str(error)
    assert str(error).startswith(f"{tmp_path / 'routing.yaml'}:{error.line}: pools[0].members[1]:")


def test_a_default_pool_that_is_not_defined_is_named_with_its_line(tmp_path: Path) -> None:
    text = GOOD.replace("default_pool: inside-sales", "default_pool: field-sales")
    error = load_error(tmp_path, text)
    assert error.key == "default_pool"
    assert error.line == line_of(text, "default_pool:")
    assert "no pool named 'field-sales'" in error.message


def test_a_rep_declared_twice_is_refused(tmp_path: Path) -> None:
    text = GOOD.replace("id: emma.clark", "id: aiko.tanaka")
    error = load_error(tmp_path, text)
    assert error.key == "reps[1].id"
    assert "declared twice" in error.message


def test_a_misspelt_key_is_refused_rather_than_ignored(tmp_path: Path) -> None:
    text = GOOD.replace("    active: false", "    activ: false")
    error = load_error(tmp_path, text)
    assert error.key == "reps[1].activ"
    assert error.line == line_of(text, "activ:")


def test_an_unknown_strategy_is_refused(tmp_path: Path) -> None:
    text = GOOD.replace("strategy: round_robin", "strategy: weighted")
    error = load_error(tmp_path, text)
    assert error.key == "pools[0].strategy"


def test_an_unknown_follow_up_is_refused(tmp_path: Path) -> None:
    text = GOOD.replace("follow_up: disqualify", "follow_up: nurture")
    error = load_error(tmp_path, text)
    assert error.key == "reason_codes[1].follow_up"
    assert error.line == line_of(text, "follow_up: nurture")


def test_recycle_days_on_a_reason_that_is_not_recycled_is_refused(tmp_path: Path) -> None:
    text = GOOD.replace(
        "    follow_up: disqualify", "    follow_up: disqualify\n    recycle_days: 30"
    )
    error = load_error(tmp_path, text)
    assert error.key == "reason_codes[1].recycle_days"


def test_an_unknown_time_zone_is_refused(tmp_path: Path) -> None:
    text = GOOD.replace("timezone: Asia/Tokyo", "timezone: Japan/Osaka")
    error = load_error(tmp_path, text)
    assert error.key == "reps[0].timezone"
    assert "IANA" in error.message


def test_broken_yaml_names_the_line(tmp_path: Path) -> None:
    text = GOOD.replace("default_pool: inside-sales", "default_pool: [inside-sales")
    error = load_error(tmp_path, text)
    assert "not valid YAML" in error.message
    assert error.line is not None


def test_the_config_file_defaults_to_routing_yaml_in_the_config_dir(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("HANDOFF_ROUTING_CONFIG_FILE", raising=False)
    monkeypatch.setenv("HANDOFF_CONFIG_DIR", "/etc/handoff")
    assert RoutingSettings().config_path == Path("/etc/handoff/routing.yaml")


def test_the_config_file_and_port_can_be_set_for_routing_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HANDOFF_ROUTING_CONFIG_FILE", "/srv/team.yaml")
    monkeypatch.setenv("HANDOFF_ROUTING_HTTP_PORT", "9102")
    settings = RoutingSettings()
    assert settings.config_path == Path("/srv/team.yaml")
    assert settings.http_port == 9102


RULES = """\
accounts:
  - domain: WWW.Sakura.co.jp
    name: Sakura
    owner: aiko.tanaka
rules:
  - name: accounts
    match: account
    fallback_pool: inside-sales
  - name: tokyo
    when: country == "JP" && region == "Tokyo"
    pool: inside-sales
    working_hours: true
"""


def test_rules_and_accounts_are_read_in_order(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD + RULES))
    assert [(r.name, r.kind, r.respect_hours) for r in config.rules] == [
        ("accounts", "account", False),
        ("tokyo", "condition", True),
    ]
    tokyo = config.rules[1].condition
    assert tokyo is not None and tokyo.holds({"country": "JP", "region": "Tokyo"})
    assert config.roster().accounts["sakura.co.jp"].owner == "aiko.tanaka"


@pytest.mark.parametrize(
    ("before", "after", "key", "message"),
    [
        (
            "pool: inside-sales\n    working",
            "pool: outside-sales\n    working",
            "rules[1].pool",
            "no pool named 'outside-sales'",
        ),
        (
            "fallback_pool: inside-sales",
            "fallback_pool: nowhere",
            "rules[0].fallback_pool",
            "no pool named 'nowhere'",
        ),
        (
            'when: country == "JP" && region == "Tokyo"',
            'when: contry == "JP"',
            "rules[1].when",
            "unknown variable contry",
        ),
        ('when: country == "JP" && region == "Tokyo"', "when: country == ", "rules[1].when", ""),
        ("owner: aiko.tanaka", "owner: ken", "accounts[0].owner", "no rep with id 'ken'"),
        ("domain: WWW.Sakura.co.jp", "domain: not a domain", "accounts[0].domain", "not a domain"),
        ("    match: account\n", "    match: account\n    when: 'true'\n", "rules[0]", "either"),
        (
            "    match: account\n    fallback_pool: inside-sales\n",
            "    match: account\n",
            "rules[0]",
            "fallback_pool",
        ),
    ],
)
def test_a_rule_or_account_mistake_names_its_line_and_key(
    tmp_path: Path, before: str, after: str, key: str, message: str
) -> None:
    text = GOOD + RULES.replace(before, after)
    assert text != GOOD + RULES
    error = load_error(tmp_path, text)
    assert error.key == key
    assert message in error.message
    assert error.line is not None and error.line > line_of(text, "accounts:") - 1


def test_working_hours_must_end_after_they_start(tmp_path: Path) -> None:
    text = GOOD.replace(
        "    timezone: Asia/Tokyo",
        '    timezone: Asia/Tokyo\n    working_hours: {days: [mon], start: "18:00", end: "09:00"}',
    )
    error = load_error(tmp_path, text)
    assert error.key == "reps[0].working_hours"
    assert "before end" in error.message


def test_a_weight_out_of_range_is_refused(tmp_path: Path) -> None:
    text = GOOD.replace("    timezone: Asia/Tokyo", "    timezone: Asia/Tokyo\n    weight: 0")
    error = load_error(tmp_path, text)
    assert error.key == "reps[0].weight"
    assert error.line == line_of(text, "weight: 0")
