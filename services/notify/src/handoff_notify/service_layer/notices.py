"""Slack and email notices from events: who is told (the rep, the manager, both reps), in
which language and time zone (the subscription's, else the person's, else the team's), with
one-click Accept / Reject links signed with the key notify shares with routing."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

from handoff import one_click
from handoff.events.envelope import GenericEvent
from handoff_notify.config import NotifyConfig, PersonIn, TeamIn
from handoff_notify.domain.facts import HandoffSeen
from handoff_notify.domain.messages import About, Kind, Language, email_parts, slack_message, words
from handoff_notify.domain.subscriptions import Subscription
from handoff_notify.settings import NotifySettings


@dataclass(frozen=True)
class Notices:
    people: Mapping[str, PersonIn]
    teams: Mapping[str, TeamIn]
    link_base_url: str
    link_secrets: Sequence[str]
    link_ttl_seconds: int

    @classmethod
    def from_settings(cls, config: NotifyConfig, settings: NotifySettings) -> Notices:
        return cls(
            config.people,
            config.teams,
            settings.link_base_url.rstrip("/"),
            [s.get_secret_value() for s in settings.one_click_secrets],
            settings.one_click_ttl_seconds,
        )

    def render(
        self, sub: Subscription, event: GenericEvent, seen: HandoffSeen | None
    ) -> bytes | None:
        """The Slack message or the email for `event`, or None when it warrants no notice."""
        data = event.data if isinstance(event.data, dict) else {}
        plan = self._plan(event.type, data, seen)
        if plan is None:
            return None
        kind, subject_id, recipients, other = plan
        reader = subject_id if sub.channel == "slack" else recipients[0]
        language, zone = self._locale(sub, reader, seen)
        about = self._about(kind, data, seen, subject_id, other, language)
        if sub.channel == "slack":
            return json.dumps(
                slack_message(words(about, language, zone)), ensure_ascii=False
            ).encode()
        addresses = [a for r in recipients if (a := self._email(r))]
        if not addresses:
            return None
        w = words(about, language, zone)
        text, page = email_parts(w)
        mail = {"to": ", ".join(addresses), "subject": w.subject, "text": text, "html": page}
        return json.dumps(mail, ensure_ascii=False).encode()

    def _plan(
        self, event_type: str, data: Mapping[str, Any], seen: HandoffSeen | None
    ) -> tuple[Kind, str, list[str], str | None] | None:
        """(kind, the rep it is about, who receives it, the other rep) for each notice."""
        rep = _text(data, "rep_id") or (seen.rep_id if seen else None)
        if rep is None:
            return None
        if event_type == "handoff.lead.assigned":
            return "new_lead", rep, [rep], None
        if event_type == "handoff.sla.warning":
            return "warning", rep, [rep], None
        if event_type == "handoff.sla.breached":
            return "breach", rep, [rep], None
        if event_type == "handoff.sla.escalated":
            action = _text(data, "action")
            if action == "remind":
                return "breach", rep, [rep], None
            if action == "escalate_to_manager":
                manager = _text(data, "target") or (seen.manager_id if seen else None)
                if manager is None:
                    return None
                return "escalation", rep, [manager], None
            return None
        if event_type == "handoff.lead.reassigned":
            previous = _text(data, "previous_rep_id")
            return "reassigned", rep, [r for r in (rep, previous) if r], previous
        return None

    def _about(
        self,
        kind: Kind,
        data: Mapping[str, Any],
        seen: HandoffSeen | None,
        rep: str,
        other: str | None,
        language: Language,
    ) -> About:
        lead_id = _text(data, "lead_id") or (seen.lead_id if seen else "")
        handoff_id = _text(data, "handoff_id")
        name = _text(data, "lead_name") or (seen.lead_name if seen else None)
        company = _text(data, "company_name") or (seen.company_name if seen else None)
        label = ", ".join(p for p in (name, company) if p)
        due = _when(data.get("due_at") or data.get("accept_due_at"))
        if due is None and kind == "new_lead" and seen is not None:
            due = seen.accept_due_at  # from the accept stage's handoff.sla.started
        accept = reject = None
        if kind in ("new_lead", "warning", "breach") and handoff_id and self.link_secrets:
            accept, reject = (
                self._link(handoff_id, rep, a, language) for a in ("accept", "reject")
            )
        return About(
            kind=kind,
            lead_id=lead_id,
            handoff_id=handoff_id,
            rep_name=self._name(rep),
            lead_label=label or lead_id,
            reason=_text(data, "mql_reason") or (seen.reason if seen else None),
            due_at=due,
            stage=_text(data, "stage"),
            other_rep_name=self._name(other) if other else None,
            accept_url=accept,
            reject_url=reject,
        )

    def _link(self, handoff_id: str, rep_id: str, action: str, language: Language) -> str:
        """The link to routing's page; `lang` so the page speaks the notice's language."""
        expires = int(time.time()) + self.link_ttl_seconds
        token = one_click.sign(self.link_secrets[0], handoff_id, rep_id, action, expires)
        path = f"/v1/handoffs/{quote(handoff_id, safe='')}/one-click"
        return f"{self.link_base_url}{path}?token={token}&lang={language}"

    def _locale(
        self, sub: Subscription, person: str, seen: HandoffSeen | None
    ) -> tuple[Language, str]:
        p = self.people.get(person)
        team = self.teams.get(
            (p.team if p and p.team else None) or (seen.team if seen else "") or ""
        )
        language: Language = (
            (
                sub.language if sub.language in ("en", "ja") else None  # type: ignore[assignment]
            )
            or (p.language if p else None)
            or (team.language if team else "en")
        )
        zone = (p.timezone if p else None) or (team.timezone if team else "UTC")
        return language, zone

    def _name(self, person: str) -> str:
        p = self.people.get(person)
        return p.name if p and p.name else person

    def _email(self, person: str) -> str | None:
        p = self.people.get(person)
        return p.email if p else None


def _text(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    return value if isinstance(value, str) and value else None


def _when(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
