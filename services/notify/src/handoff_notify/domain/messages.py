"""The words of every notice, in English and Japanese: a new lead, an SLA warning, a breach
reminder, an escalation to the manager, a reassignment. Pure: what a notice says is built
from plain values; the Slack and email shapes are built from the words."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

Language = Literal["en", "ja"]
Kind = Literal["new_lead", "warning", "breach", "escalation", "reassigned"]


@dataclass(frozen=True, slots=True)
class About:
    """What a notice is about, in plain values."""

    kind: Kind
    lead_id: str
    handoff_id: str | None
    rep_name: str
    lead_label: str  # "Aiko Tanaka, Example KK", or the lead id when nothing better is known
    reason: str | None = None  # the MQL reason sentence
    due_at: datetime | None = None
    stage: str | None = None
    other_rep_name: str | None = None  # reassigned: the rep who had the lead before
    accept_url: str | None = None
    reject_url: str | None = None


@dataclass(frozen=True, slots=True)
class Words:
    subject: str
    lines: list[str]
    buttons: list[tuple[str, str, str]] = field(default_factory=list)  # (label, url, style)


def local_time(at: datetime, timezone: str, language: Language) -> str:
    local = at.astimezone(ZoneInfo(timezone))
    if language == "ja":
        return local.strftime("%Y年%m月%d日 %H:%M") + f"（{timezone}）"
    return local.strftime("%a %d %b %Y, %H:%M") + f" ({timezone})"


STAGES = {
    "en": {"accept": "accept", "first_contact": "first contact", "status_update": "status update"},
    "ja": {"accept": "受諾", "first_contact": "初回コンタクト", "status_update": "状況更新"},
}


def words(about: About, language: Language, timezone: str) -> Words:
    due = local_time(about.due_at, timezone, language) if about.due_at else None
    stage = STAGES[language].get(about.stage or "", about.stage or "")
    buttons = []
    if about.accept_url and about.reject_url:
        buttons = (
            [("承諾する", about.accept_url, "primary"), ("却下する", about.reject_url, "danger")]
            if language == "ja"
            else [("Accept", about.accept_url, "primary"), ("Reject", about.reject_url, "danger")]
        )
    if language == "ja":
        return _ja(about, due, stage, buttons)
    return _en(about, due, stage, buttons)


def _en(a: About, due: str | None, stage: str, buttons: list[tuple[str, str, str]]) -> Words:
    if a.kind == "new_lead":
        lines = [f"New lead for you, {a.rep_name}: {a.lead_label}."]
        if a.reason:
            lines.append(f"Why: {a.reason}")
        if due:
            lines.append(f"Please accept or reject by {due}.")
        return Words(f"New lead: {a.lead_label}", lines, buttons)
    if a.kind == "warning":
        return Words(
            f"Reminder: {a.lead_label} is waiting",
            [
                f"{a.rep_name}, the lead {a.lead_label} is waiting for your {stage}.",
                f"Due by {due}.",
            ],
            buttons,
        )
    if a.kind == "breach":
        return Words(
            f"Overdue: {a.lead_label}",
            [
                f"{a.rep_name}, the {stage} of {a.lead_label} is overdue (it was due by {due}).",
                "Please act on it now.",
            ],
            buttons,
        )
    if a.kind == "escalation":
        return Words(
            f"Escalation: {a.lead_label} is overdue with {a.rep_name}",
            [
                f"The lead {a.lead_label}, assigned to {a.rep_name}, has missed its {stage} SLA "
                f"(due by {due}).",
                "Please follow up with the rep or reassign the lead.",
            ],
        )
    return Words(
        f"Lead reassigned: {a.lead_label}",
        [
            f"The lead {a.lead_label} moved from {a.other_rep_name or 'its previous rep'} "
            f"to {a.rep_name}."
        ],
    )


def _ja(a: About, due: str | None, stage: str, buttons: list[tuple[str, str, str]]) -> Words:
    if a.kind == "new_lead":
        lines = [f"{a.rep_name}さん、新しいリードが割り当てられました：{a.lead_label}"]
        if a.reason:
            lines.append(f"理由：{a.reason}")
        if due:
            lines.append(f"{due}までに承諾または却下してください。")
        return Words(f"新しいリード：{a.lead_label}", lines, buttons)
    if a.kind == "warning":
        return Words(
            f"リマインダー：{a.lead_label}が対応を待っています",
            [
                f"{a.rep_name}さん、リード {a.lead_label} の{stage}をお待ちしています。",
                f"期限：{due}",
            ],
            buttons,
        )
    if a.kind == "breach":
        return Words(
            f"期限超過：{a.lead_label}",
            [
                f"{a.rep_name}さん、リード {a.lead_label} の{stage}の期限（{due}）を過ぎています。",
                "至急対応してください。",
            ],
            buttons,
        )
    if a.kind == "escalation":
        return Words(
            f"エスカレーション：{a.rep_name}さんの{a.lead_label}が期限超過",
            [
                f"{a.rep_name}さんに割り当てられたリード {a.lead_label} が{stage}のSLA（期限：{due}）を"
                "超過しました。",
                "担当者へのフォローまたは再割り当てをお願いします。",
            ],
        )
    return Words(
        f"リードの再割り当て：{a.lead_label}",
        [
            f"リード {a.lead_label} の担当が{a.other_rep_name or '前の担当者'}さんから"
            f"{a.rep_name}さんに変わりました。"
        ],
    )


def slack_message(w: Words) -> dict[str, Any]:
    """A Block Kit message: a header, one mrkdwn section, and the buttons as links."""
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": w.subject[:150]}},
        {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(w.lines)[:3000]}},
    ]
    if w.buttons:
        blocks.append(
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": label},
                        "url": url,
                        "style": style,
                        "action_id": f"handoff_{n}",
                    }
                    for n, (label, url, style) in enumerate(w.buttons)
                ],
            }
        )
    return {"text": w.subject, "blocks": blocks}


def email_parts(w: Words) -> tuple[str, str]:
    """Plain text and HTML bodies; every value is escaped in the HTML."""
    text = "\n".join(w.lines)
    if w.buttons:
        text += "\n\n" + "\n".join(f"{label}: {url}" for label, url, _ in w.buttons)
    body = "".join(f"<p>{html.escape(line)}</p>" for line in w.lines)
    if w.buttons:
        body += (
            "<p>"
            + " &nbsp; ".join(
                f'<a href="{html.escape(url)}" style="padding:8px 14px;border-radius:4px;'
                f"background:{'#1a7f37' if style == 'primary' else '#cf222e'};color:#fff;"
                f'text-decoration:none">{html.escape(label)}</a>'
                for label, url, style in w.buttons
            )
            + "</p>"
        )
    page = f'<!doctype html><html><body style="font-family:sans-serif">{body}</body></html>'
    return text, page
