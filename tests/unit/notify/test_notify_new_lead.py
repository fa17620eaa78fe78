"""The new-lead notice names the accept stage's due time (from handoff.sla.started) in the
rep's time zone, else the team's, in English and Japanese; the assignment and the start make
the same notice, keyed by the handoff."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from handoff.events.envelope import GenericEvent
from handoff_notify.config import NotifyConfig
from handoff_notify.domain.facts import HandoffSeen, accept_due_of
from handoff_notify.domain.subscriptions import Subscription
from handoff_notify.service_layer.handlers import new_lead_notice
from handoff_notify.service_layer.notices import Notices

DUE = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
MAIL = Subscription("mail", "email", "", ("handoff.lead.assigned",))

CONFIG = NotifyConfig.model_validate(
    {
        "people": {
            "aiko": {"name": "田中 愛子", "email": "aiko@example.com", "team": "tokyo"},
            "bo": {"name": "Bo", "email": "bo@example.com", "timezone": "Europe/London"},
        },
        "teams": {"tokyo": {"language": "ja", "timezone": "Asia/Tokyo"}},
    }
)
NOTICES = Notices(CONFIG.people, CONFIG.teams, "http://127.0.0.1:8102", [], 3600)


def seen(rep_id: str, due: datetime | None) -> HandoffSeen:
    return HandoffSeen(
        "H-1",
        "L-1",
        rep_id,
        "emea",
        None,
        None,
        DUE,
        "mql-1",
        reason="Asked for a demo twice.",
        lead_name="Mei Suzuki",
        company_name="Cloud KK",
        accept_due_at=due,
    )


def event(event_type: str, **data: object) -> GenericEvent:
    return GenericEvent(id="e-1", source="/test", type=event_type, data=data)


def mail_text(rep_id: str, due: datetime | None) -> str:
    s = seen(rep_id, due)
    notice = new_lead_notice(event("handoff.lead.assigned", handoff_id="H-1"), {"H-1": s})
    assert notice is not None
    body = NOTICES.render(MAIL, notice, s)
    assert body is not None
    return str(json.loads(body)["text"])


def test_the_new_lead_notice_names_the_due_time_in_the_reps_own_zone_in_english() -> None:
    text = mail_text("bo", DUE)
    assert "New lead for you, Bo: Mei Suzuki, Cloud KK." in text
    assert "Why: Asked for a demo twice." in text
    assert "Please accept or reject by Tue 01 Dec 2026, 01:00 (Europe/London)." in text


def test_the_new_lead_notice_names_the_due_time_in_the_teams_zone_in_japanese() -> None:
    text = mail_text("aiko", DUE)
    assert "2026年12月01日 10:00（Asia/Tokyo）までに承諾または却下してください。" in text


def test_without_an_accept_sla_the_notice_names_no_due_time() -> None:
    assert "Please accept or reject by" not in mail_text("bo", None)
    assert "までに承諾または却下してください" not in mail_text("aiko", None)


def test_the_assignment_and_the_accept_start_make_the_same_notice_keyed_by_the_handoff() -> None:
    known = {"H-1": seen("bo", DUE)}
    by_assignment = new_lead_notice(event("handoff.lead.assigned", handoff_id="H-1"), known)
    started = event("handoff.sla.started", handoff_id="H-1", lead_id="L-1", stage="accept")
    started.data["due_at"] = DUE.isoformat()
    by_start = new_lead_notice(started, known)
    assert by_assignment is not None and by_start is not None
    assert by_assignment.id == by_start.id != "e-1"
    assert by_assignment.data == by_start.data
    # Another stage's start, or a start before the assignment was seen, makes no notice.
    contact = event("handoff.sla.started", handoff_id="H-1", lead_id="L-1", stage="first_contact")
    contact.data["due_at"] = DUE.isoformat()
    assert new_lead_notice(contact, known) is None
    assert new_lead_notice(started, {}) is None


def test_only_an_accept_start_with_a_readable_due_time_counts() -> None:
    ok = {"handoff_id": "H-1", "lead_id": "L-1", "stage": "accept", "due_at": "2026-12-01T01:00Z"}
    due = accept_due_of("handoff.sla.started", ok)
    assert due is not None and due.due_at == DUE
    assert accept_due_of("handoff.sla.started", {**ok, "due_at": "soon"}) is None
    assert accept_due_of("handoff.sla.started", {**ok, "stage": "status_update"}) is None
    assert accept_due_of("handoff.sla.warning", ok) is None
