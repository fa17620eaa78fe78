"""The small HTML pages a rep sees from a one-click link or their queue page, in English or
Japanese. Every value is escaped; no page carries a secret other than a signed token."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from html import escape
from typing import Literal
from zoneinfo import ZoneInfo

from handoff_routing.adapters.rep_queue import QueueItem
from handoff_routing.domain.reasons import ReasonCode

Language = Literal["en", "ja"]

TEXT: dict[str, dict[Language, str]] = {
    "title": {"en": "handoff", "ja": "handoff"},
    "accept_q": {"en": "Accept this lead?", "ja": "このリードを承諾しますか？"},
    "accept": {"en": "Accept", "ja": "承諾する"},
    "reject_q": {
        "en": "Why are you rejecting this lead?",
        "ja": "このリードを却下する理由を選んでください。",
    },
    "reject": {"en": "Reject", "ja": "却下する"},
    "note": {"en": "Note (optional)", "ja": "メモ（任意）"},
    "accepted": {"en": "Done: you accepted the lead.", "ja": "完了：リードを承諾しました。"},
    "rejected": {"en": "Done: you rejected the lead.", "ja": "完了：リードを却下しました。"},
    "used": {
        "en": "This link has already been used. Nothing was changed.",
        "ja": "このリンクはすでに使用済みです。何も変更されていません。",
    },
    "expired": {
        "en": "This link has expired. Nothing was changed. Open the lead in your CRM or queue instead.",
        "ja": "このリンクは有効期限が切れています。何も変更されていません。CRMまたはキューから開いてください。",
    },
    "invalid": {
        "en": "This link is not valid. Nothing was changed.",
        "ja": "このリンクは無効です。何も変更されていません。",
    },
    "conflict": {"en": "Nothing was changed:", "ja": "変更されませんでした："},
    "pick": {"en": "Please choose a reason.", "ja": "理由を選んでください。"},
    "queue": {"en": "Your open leads", "ja": "あなたの未対応リード"},
    "empty": {"en": "No open leads. Well done.", "ja": "未対応のリードはありません。"},
    "due": {"en": "due by", "ja": "期限"},
    "overdue": {"en": "overdue", "ja": "期限超過"},
    "lead": {"en": "Lead", "ja": "リード"},
    "state_assigned": {"en": "waiting for you", "ja": "対応待ち"},
    "state_accepted": {"en": "accepted", "ja": "承諾済み"},
    "state_contacted": {"en": "contacted", "ja": "コンタクト済み"},
}


def t(key: str, lang: Language) -> str:
    return TEXT[key][lang]


STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:42rem;margin:2rem auto;padding:0 1rem;"
    "color:#1f2328}h1{font-size:1.3rem}.lead{border:1px solid #d0d7de;border-radius:6px;"
    "padding:.8rem 1rem;margin:.8rem 0}.why{color:#57606a}.due{font-size:.9rem}"
    ".late{color:#cf222e;font-weight:600}button{font-size:1rem;padding:.45rem 1rem;"
    "border-radius:6px;border:0;color:#fff;cursor:pointer;margin-right:.5rem}"
    ".ok{background:#1a7f37}.no{background:#cf222e}label{display:block;margin:.3rem 0}"
    "form{display:inline}textarea{width:100%;margin:.5rem 0}"
)


def page(lang: Language, heading: str, body: str) -> str:
    return (
        f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="referrer" content="no-referrer">'
        f"<title>{escape(heading)} · handoff</title><style>{STYLE}</style></head>"
        f"<body><h1>{escape(heading)}</h1>{body}</body></html>"
    )


def message(lang: Language, heading: str, words: str) -> str:
    return page(lang, heading, f"<p>{escape(words)}</p>")


def _hidden(token: str, lang: Language) -> str:
    return (
        f'<input type="hidden" name="token" value="{escape(token)}">'
        f'<input type="hidden" name="lang" value="{lang}">'
    )


def accept_form(lang: Language, action_url: str, token: str, label: str) -> str:
    body = (
        f'<div class="lead">{escape(label)}</div>'
        f'<form method="post" action="{escape(action_url)}">{_hidden(token, lang)}'
        f'<button class="ok" type="submit">{t("accept", lang)}</button></form>'
    )
    return page(lang, t("accept_q", lang), body)


def reject_form(
    lang: Language, action_url: str, token: str, label: str, reasons: Sequence[ReasonCode]
) -> str:
    choices = "".join(
        f'<label><input type="radio" name="reason_code" value="{escape(r.code)}" required> '
        f"{escape(r.label_ja if lang == 'ja' else r.label_en)}</label>"
        for r in reasons
    )
    body = (
        f'<div class="lead">{escape(label)}</div>'
        f'<form method="post" action="{escape(action_url)}">{_hidden(token, lang)}{choices}'
        f'<label>{t("note", lang)}<textarea name="note" maxlength="2000"></textarea></label>'
        f'<button class="no" type="submit">{t("reject", lang)}</button></form>'
    )
    return page(lang, t("reject_q", lang), body)


def local(at: datetime, zone: str, lang: Language) -> str:
    when = at.astimezone(ZoneInfo(zone))
    return when.strftime("%Y年%m月%d日 %H:%M" if lang == "ja" else "%a %d %b, %H:%M") + f" ({zone})"


def lead_label(item: QueueItem) -> str:
    return ", ".join(p for p in (item.lead_name, item.company_name) if p) or item.lead_id


def queue_page(
    lang: Language,
    items: Sequence[QueueItem],
    zone: str,
    now: datetime,
    actions: dict[str, tuple[str, str, str]],  # handoff id -> (post url, accept token, reject link)
) -> str:
    if not items:
        return message(lang, t("queue", lang), t("empty", lang))
    cards = []
    for item in items:
        late = item.breached_at is not None or (item.due_at is not None and item.due_at <= now)
        due = ""
        if item.due_at is not None:
            cls = "due late" if late else "due"
            flag = f" · {t('overdue', lang)}" if late else ""
            due = f'<div class="{cls}">{t("due", lang)} {escape(local(item.due_at, zone, lang))}{flag}</div>'
        why = f'<div class="why">{escape(item.reason)}</div>' if item.reason else ""
        state = t(f"state_{item.state}", lang) if f"state_{item.state}" in TEXT else item.state
        buttons = ""
        if item.handoff_id in actions:
            post_url, accept_token, reject_link = actions[item.handoff_id]
            buttons = (
                f'<div><form method="post" action="{escape(post_url)}">{_hidden(accept_token, lang)}'
                f'<button class="ok" type="submit">{t("accept", lang)}</button></form>'
                f'<a href="{escape(reject_link)}"><button class="no" type="button">'
                f"{t('reject', lang)}</button></a></div>"
            )
        cards.append(
            f'<div class="lead" data-handoff="{escape(item.handoff_id)}"><strong>'
            f"{escape(lead_label(item))}</strong> · {escape(state)}{why}{due}{buttons}</div>"
        )
    return page(lang, t("queue", lang), "".join(cards))
