"""notify's part of erasing a lead, without a database: which fields a pending webhook loses,
and that a subscription may ask for `handoff.lead.erased` (file and API share the validation)."""

from __future__ import annotations

import json
from pathlib import Path

from handoff_notify.config import load_config
from handoff_notify.domain.erasure import stripped_body

NAME, EMAIL, NOTE = "Kanari Tori", "kanari@example.com", "called her mobile"


def test_a_pending_webhook_loses_traits_names_notes_and_decision_notes_and_keeps_the_facts() -> (
    None
):
    event = {
        "id": "e-1",
        "type": "handoff.lead.rejected",
        "data": {
            "lead_id": "L-1",
            "handoff_id": "H-1",
            "rep_id": "aiko",
            "reason_code": "no_budget",
            "note": NOTE,
            "traits": {"email": EMAIL, "name": NAME},
            "lead_name": NAME,
            "decision": [{"step": "account", "note": "matched kanari.example"}, {"step": "pool"}],
        },
    }
    body, removed = stripped_body(json.dumps(event).encode())
    assert NAME not in body.decode() and EMAIL not in body.decode() and NOTE not in body.decode()
    assert "kanari.example" not in body.decode()
    assert removed == ["data.traits", "data.lead_name", "data.note", "data.decision.note"]
    data = json.loads(body)["data"]
    assert data == {
        "lead_id": "L-1",
        "handoff_id": "H-1",
        "rep_id": "aiko",
        "reason_code": "no_budget",
        "decision": [{"step": "account"}, {"step": "pool"}],
    }


def test_a_body_without_personal_fields_is_left_as_it_was_and_an_unreadable_one_is_emptied() -> (
    None
):
    plain = json.dumps({"id": "e-2", "data": {"lead_id": "L-1", "rep_id": "aiko"}}).encode()
    assert stripped_body(plain) == (plain, [])
    assert stripped_body(b"not json " + EMAIL.encode()) == (b"{}", ["body"])
    assert stripped_body(b"[1, 2]") == (b"{}", ["body"])


def test_a_subscription_may_ask_for_the_erased_event(tmp_path: Path) -> None:
    f = tmp_path / "notify.yaml"
    f.write_text(
        "subscriptions:\n"
        "  - id: crm\n"
        "    url: https://crm.example.com/hook\n"
        "    events: [handoff.lead.assigned, handoff.lead.erased]\n"
    )
    [sub] = load_config(f).subscriptions
    assert "handoff.lead.erased" in sub.events
