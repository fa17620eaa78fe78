"""What GET /v1/leads/{id}/score reports, computed in the domain without a server: the score
then and now, the cycle's state and trigger, the reason, and the recent activities."""

from __future__ import annotations

from pathlib import Path

from handoff_scoring.config import load_model
from handoff_scoring.domain import lifecycle
from handoff_scoring.domain.lead import Lead
from handoff_scoring.domain.score_report import RECENT, score_report, trigger_of
from tests.unit.scoring.test_scoring_rules import DAY, T0

REPO = Path(__file__).resolve().parents[3]
SHIPPED = load_model(REPO / "config" / "scoring.yaml")


def test_a_qualified_lead_reports_its_trigger_reason_and_newest_activity_first() -> None:
    lead = Lead("L-1")
    lifecycle.apply_identify(SHIPPED, lead, {"title": "CTO", "company": {"size": 120}}, T0)
    lifecycle.apply_activity(SHIPPED, lead, T0 + 1, "page_view", {"url": "/ja/pricing"})
    lifecycle.apply_activity(SHIPPED, lead, T0 + 2, "demo_request")
    report = score_report(SHIPPED, lead, now=T0 + 30 * DAY)
    assert report.state == "mql" and report.trigger == ("activity", "demo-request")
    assert report.score.at == T0 + 2 and report.now.at == T0 + 30 * DAY
    assert report.now.engagement < report.score.engagement  # decayed to the time of asking
    assert [a.activity_type for a in report.recent] == ["demo_request", "page_view"]
    assert report.recent[1].rules == ["page-views", "pricing-url"]
    assert report.recent[1].properties == {"url": "/ja/pricing"}
    assert report.reason.endswith("CTO at a 120-person company.")
    assert report.contributions[0].points >= report.contributions[-1].points


def test_a_recycled_lead_waits_for_its_next_cycle_and_shows_no_trigger() -> None:
    lead = Lead("L-2")
    lifecycle.apply_activity(SHIPPED, lead, T0, "demo_request")
    assert lifecycle.recycle(lead, T0 + 10 * DAY)
    report = score_report(SHIPPED, lead, now=T0 + DAY)
    assert (report.state, report.trigger, lead.cycle) == ("waiting", None, 2)
    assert score_report(SHIPPED, lead, now=T0 + 11 * DAY).state == "open"


def test_only_the_latest_activities_are_listed() -> None:
    lead = Lead("L-3")
    for i in range(RECENT + 5):
        lifecycle.apply_activity(SHIPPED, lead, T0 + i, "email_open")
    recent = score_report(SHIPPED, lead, now=T0 + DAY).recent
    assert len(recent) == RECENT and recent[0].occurred_at == T0 + RECENT + 4


def test_a_trigger_is_read_back_from_kind_and_rule() -> None:
    lead = Lead("L-4", trigger="criteria:engaged: mid-market")
    assert trigger_of(lead) == ("criteria", "engaged: mid-market")
    assert trigger_of(Lead("L-5", trigger="garbled")) is None
