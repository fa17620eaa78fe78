"""notify's pure rules: subscription matching, the retry schedule, the circuit breaker,
one-click tokens, and the notices' words and shapes in both languages."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from handoff import one_click
from handoff.config_file import ConfigError
from handoff_notify.config import load_config
from handoff_notify.domain import breaker
from handoff_notify.domain.attempts import Policies, after_try
from handoff_notify.domain.breaker import BreakerPolicy, Health
from handoff_notify.domain.messages import About, email_parts, slack_message, words
from handoff_notify.domain.retry import RetryPolicy, Verdict, retry_after_seconds, verdict_of
from handoff_notify.domain.subscriptions import Facts, Subscription

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def sub(**kw: object) -> Subscription:
    base: dict[str, object] = {
        "subscription_id": "s",
        "channel": "webhook",
        "url": "https://crm.example.com/hook",
        "event_types": ("handoff.lead.assigned",),
    }
    return Subscription(**{**base, **kw})  # type: ignore[arg-type]


def facts(**kw: object) -> Facts:
    return Facts(**{"event_id": "e", "type": "handoff.lead.assigned", **kw})  # type: ignore[arg-type]


def test_a_subscription_wants_its_event_types_and_filters_and_nothing_else() -> None:
    s = sub(pools=("emea",), reps=("ana", "bo"))
    assert s.wants(facts(pool="emea", rep_id="ana"))
    assert not s.wants(facts(pool="apac", rep_id="ana"))
    assert not s.wants(facts(pool="emea", rep_id="cy"))
    assert not s.wants(facts(pool="emea", rep_id="ana", type="handoff.lead.accepted"))
    assert not s.wants(facts(pool=None, rep_id="ana"))  # a pool filter needs a known pool
    assert sub().wants(facts())  # no filter: any pool, team and rep
    assert not sub(disabled=True).wants(facts())


def test_the_schedule_spaces_tries_over_about_a_day_and_then_gives_up() -> None:
    policy = RetryPolicy(jitter=0)
    waits = [policy.delay_after(n, 0.5) for n in range(1, 8)]
    assert waits[:6] == [5, 300, 1800, 7200, 18000, 36000]
    assert waits[6] is None
    assert 17 * 3600 < sum(w for w in waits if w) < 24 * 3600
    assert policy.max_attempts == 7


def test_jitter_stays_within_its_fraction_and_retry_after_can_only_lengthen_a_wait() -> None:
    policy = RetryPolicy(jitter=0.2)
    assert policy.delay_after(2, 0.0) == pytest.approx(240)
    assert policy.delay_after(2, 0.999999) == pytest.approx(360, rel=1e-4)
    assert policy.delay_after(1, 0.5, retry_after=120) == 120
    assert policy.delay_after(3, 0.5, retry_after=1) == 1800


def test_retry_after_reads_seconds_and_http_dates() -> None:
    assert retry_after_seconds("30", NOW) == 30
    assert retry_after_seconds("Tue, 01 Dec 2026 09:02:00 GMT", NOW) == 120
    assert retry_after_seconds("soon", NOW) is None


@pytest.mark.parametrize(
    ("channel", "status", "expected"),
    [
        ("webhook", 200, Verdict.DELIVERED),
        ("webhook", 204, Verdict.DELIVERED),
        ("webhook", 410, Verdict.GONE),
        ("webhook", 429, Verdict.RETRY),
        ("webhook", 500, Verdict.RETRY),
        ("webhook", 302, Verdict.RETRY),
        ("webhook", None, Verdict.RETRY),
        ("email", 250, Verdict.DELIVERED),
        ("email", 451, Verdict.RETRY),
    ],
)
def test_what_an_answer_means(channel: str, status: int | None, expected: Verdict) -> None:
    assert verdict_of(channel, status) is expected


def test_the_breaker_opens_after_consecutive_failures_and_one_success_closes_it() -> None:
    policy = BreakerPolicy(failures_to_open=3, open_seconds=60, disable_after_seconds=86400)
    h = Health()
    for n in range(2):
        h, disabled = breaker.failed(h, NOW + timedelta(seconds=n), policy)
        assert not disabled and h.allows(NOW + timedelta(seconds=n))
    h, _ = breaker.failed(h, NOW + timedelta(seconds=2), policy)
    assert not h.allows(NOW + timedelta(seconds=3))
    assert h.allows(NOW + timedelta(seconds=62))
    assert breaker.succeeded(h) == Health()


def test_an_endpoint_failing_longer_than_allowed_is_disabled_once() -> None:
    policy = BreakerPolicy(failures_to_open=100, open_seconds=60, disable_after_seconds=3600)
    h, _ = breaker.failed(Health(), NOW, policy)
    h, disabled = breaker.failed(h, NOW + timedelta(minutes=59), policy)
    assert not disabled
    h, disabled = breaker.failed(h, NOW + timedelta(minutes=60), policy)
    assert disabled and h.disabled and not h.allows(NOW + timedelta(days=9))
    assert breaker.failed(h, NOW + timedelta(minutes=61), policy) == (h, False)


def test_a_try_that_fails_is_due_again_and_the_last_one_gives_up() -> None:
    policies = Policies(retry=RetryPolicy(schedule=(5,), jitter=0))
    first = after_try(
        channel="webhook",
        attempts_before=0,
        status_code=503,
        retry_after=None,
        now=NOW,
        health=Health(),
        policies=policies,
        random_unit=0.5,
    )
    assert (first.status, first.attempts, first.next_at) == (
        "pending",
        1,
        NOW + timedelta(seconds=5),
    )
    last = after_try(
        channel="webhook",
        attempts_before=1,
        status_code=503,
        retry_after=None,
        now=NOW,
        health=first.health,
        policies=policies,
        random_unit=0.5,
    )
    assert (last.status, last.gave_up, last.next_at) == ("failed", True, None)


SECRET, OLD = "k-new-" + "x" * 30, "k-old-" + "y" * 30
EXPIRES = int((NOW + timedelta(hours=1)).timestamp())


def test_a_valid_one_click_token_carries_its_grant() -> None:
    token = one_click.sign(SECRET, "H-1", "ana", "accept", EXPIRES)
    grant = one_click.verify([SECRET], token, NOW, handoff_id="H-1")
    assert (grant.handoff_id, grant.rep_id, grant.action) == ("H-1", "ana", "accept")
    assert len(grant.digest) == 64


def test_a_token_signed_with_the_old_key_still_works_during_a_rotation() -> None:
    token = one_click.sign(OLD, "H-1", "ana", "reject", EXPIRES)
    assert one_click.verify([SECRET, OLD], token, NOW).action == "reject"
    with pytest.raises(one_click.BadToken):
        one_click.verify([SECRET], token, NOW)  # the old key retired


def test_expired_tampered_and_foreign_tokens_are_refused_in_plain_words() -> None:
    token = one_click.sign(SECRET, "H-1", "ana", "accept", EXPIRES)
    with pytest.raises(one_click.BadToken, match="expired"):
        one_click.verify([SECRET], token, NOW + timedelta(hours=2))
    payload, mac = token.split(".")
    forged = one_click._b64(one_click._unb64(payload).replace(b"ana", b"bob")) + "." + mac
    with pytest.raises(one_click.BadToken, match="not valid"):
        one_click.verify([SECRET], forged, NOW)
    with pytest.raises(one_click.BadToken, match="not valid"):
        one_click.verify([SECRET], token, NOW, handoff_id="H-2")
    with pytest.raises(one_click.BadToken, match="damaged"):
        one_click.verify([SECRET], "garbage", NOW)


ABOUT = About(
    kind="new_lead",
    lead_id="L-1",
    handoff_id="H-1",
    rep_name="Ana",
    lead_label="Aiko Tanaka, Example KK",
    reason="Requested a demo after three pricing-page visits.",
    due_at=datetime(2026, 12, 1, 1, 0, tzinfo=UTC),
    accept_url="http://127.0.0.1:8102/v1/handoffs/H-1/one-click?token=a",
    reject_url="http://127.0.0.1:8102/v1/handoffs/H-1/one-click?token=r",
)


def test_a_new_lead_notice_reads_in_english_with_the_due_time_in_the_reps_zone() -> None:
    w = words(ABOUT, "en", "Europe/London")
    text = "\n".join(w.lines)
    assert "New lead for you, Ana: Aiko Tanaka, Example KK." in text
    assert "Requested a demo" in text
    assert "01:00 (Europe/London)" in text
    assert [b[0] for b in w.buttons] == ["Accept", "Reject"]


def test_a_new_lead_notice_reads_in_japanese_in_tokyo_time() -> None:
    w = words(ABOUT, "ja", "Asia/Tokyo")
    assert w.subject == "新しいリード：Aiko Tanaka, Example KK"
    assert "2026年12月01日 10:00（Asia/Tokyo）までに承諾または却下してください。" in w.lines
    assert [b[0] for b in w.buttons] == ["承諾する", "却下する"]


def test_the_slack_message_has_block_kit_shape() -> None:
    msg = slack_message(words(ABOUT, "en", "UTC"))
    json.dumps(msg)
    assert msg["text"].startswith("New lead")
    header, section, actions = msg["blocks"]
    assert header == {"type": "header", "text": {"type": "plain_text", "text": msg["text"]}}
    assert section["type"] == "section" and section["text"]["type"] == "mrkdwn"
    assert actions["type"] == "actions"
    for button in actions["elements"]:
        assert set(button) == {"type", "text", "url", "style", "action_id"}
        assert button["type"] == "button" and button["text"]["type"] == "plain_text"
        assert button["style"] in ("primary", "danger") and len(button["text"]["text"]) <= 75
    assert len({b["action_id"] for b in actions["elements"]}) == 2


def test_the_email_html_escapes_what_it_quotes() -> None:
    w = words(
        About(
            kind="reassigned",
            lead_id="L",
            handoff_id="H",
            rep_name="<b>Bo</b>",
            lead_label="A & B",
            other_rep_name="Ana",
        ),
        "en",
        "UTC",
    )
    text, page = email_parts(w)
    assert "<b>Bo</b>" in text and "&lt;b&gt;Bo&lt;/b&gt;" in page and "A &amp; B" in page
    assert "<b>Bo</b>" not in page


def test_a_config_mistake_names_the_file_line_and_key(tmp_path: Path) -> None:
    f = tmp_path / "notify.yaml"
    f.write_text(
        "subscriptions:\n"
        "  - id: crm\n"
        "    url: https://crm.example.com/hook\n"
        "    events: [handoff.lead.asigned]\n"
    )
    with pytest.raises(ConfigError) as err:
        load_config(f)
    assert (err.value.line, err.value.key) == (4, "subscriptions[0].events[0]")
    assert "unknown event type 'handoff.lead.asigned'" in str(err.value)


def test_a_private_url_in_the_file_is_refused_unless_its_network_is_allowed(tmp_path: Path) -> None:
    f = tmp_path / "notify.yaml"
    body = "subscriptions:\n  - id: local\n    url: http://127.0.0.1:9000/hook\n    events: [handoff.lead.assigned]\n"
    f.write_text(body)
    with pytest.raises(ConfigError) as err:
        load_config(f)
    assert (err.value.line, err.value.key) == (3, "subscriptions[0].url")
    f.write_text(body + "safety:\n  allow_networks: [127.0.0.0/8]\n")
    assert load_config(f).subscriptions[0].url == "http://127.0.0.1:9000/hook"


def test_the_shipped_config_loads() -> None:
    config = load_config(Path(__file__).resolve().parents[3] / "config" / "notify.yaml")
    assert config.timeout_seconds == 10
    assert config.retry.schedule == (5, 300, 1800, 7200, 18000, 36000)


def test_insight_alerts_are_consumed_when_asked_or_when_the_shared_package_has_them() -> None:
    import importlib.util

    from handoff_notify.entrypoints.consumer import INSIGHT_TOPIC, topics

    base = ["handoff.scoring.v1", "handoff.routing.v1", "handoff.sla.v1"]
    assert topics(False) == base
    assert topics(True) == [*base, INSIGHT_TOPIC]
    present = importlib.util.find_spec("handoff.events.insight") is not None
    assert (INSIGHT_TOPIC in topics(None)) is present


def test_notify_yaml_durations_follow_the_one_grammar_of_every_config_file(tmp_path: Path) -> None:
    f = tmp_path / "notify.yaml"
    f.write_text(
        "delivery:\n"
        "  timeout: 1.5m\n"
        "  retry_schedule: [90s, 1h30m, 1.5h, 2d, 1w]\n"
        "  breaker:\n"
        "    open_for: 15m\n"
        "  disable_after: 1w\n"
    )
    config = load_config(f)
    assert config.timeout_seconds == 90
    assert config.retry.schedule == (90, 5400, 5400, 172_800, 604_800)
    assert (config.breaker.open_seconds, config.breaker.disable_after_seconds) == (900, 604_800)


@pytest.mark.parametrize(
    ("value", "words"), [("0s", "not a positive duration"), ("5 mins", "1h30m")]
)
def test_a_bad_duration_in_notify_yaml_names_file_line_and_key(
    tmp_path: Path, value: str, words: str
) -> None:
    f = tmp_path / "notify.yaml"
    f.write_text(f"delivery:\n  retry_schedule: [5s, {value}]\n")
    with pytest.raises(ConfigError) as err:
        load_config(f)
    assert (err.value.line, err.value.key) == (2, "delivery.retry_schedule[1]")
    assert words in err.value.message
