"""GET /: the dashboard page, rendered on the server with its EN/JA labels; numbers load by fetch.

The page asks for an API key (scope read) once and keeps it in the tab's sessionStorage; it
sends it as a Bearer header and never puts it in a URL. The page itself holds no data, so it
needs no authentication.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

router = APIRouter(tags=["dashboard"])
_env = Environment(
    loader=FileSystemLoader(Path(__file__).parent.parent / "templates"),
    autoescape=select_autoescape(["html"]),
)

LABELS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Funnel insight",
        "subtitle": "MQL → accepted (SAL) → SQL, live from handoff",
        "key_prompt": "API key (scope read)",
        "key_save": "Open",
        "key_forget": "Forget key",
        "key_note": "Kept in this tab only (sessionStorage); never sent in a URL.",
        "window": "Window",
        "source": "Source",
        "campaign": "Campaign",
        "pool": "Pool",
        "rep": "Rep",
        "apply": "Apply",
        "funnel": "Funnel",
        "mqls": "MQLs",
        "accepted": "Accepted",
        "rejected": "Rejected",
        "sql": "SQL",
        "acceptance_rate": "Acceptance rate",
        "mql_to_sql": "MQL → SQL",
        "sal_to_sql": "SAL → SQL",
        "recycle_share": "Recycled",
        "disqualify_share": "Disqualified",
        "weekly": "Rates by week",
        "reasons": "Why sales rejected",
        "reason": "Reason",
        "count": "Count",
        "share": "Share",
        "time_to_accept": "Time to accept",
        "p50": "median",
        "p90": "90th percentile",
        "sla": "SLA compliance",
        "stage": "Stage",
        "met": "Met",
        "breached": "Breached",
        "compliance": "Compliance",
        "alerts": "Open alerts",
        "no_alerts": "No band alerts: every judged group is in its healthy range.",
        "band": "Band",
        "group": "Group",
        "value": "Value",
        "samples": "Samples",
        "whatif": "Threshold what-if",
        "threshold": "MQL bar at",
        "too_few": "too few to trust",
        "feedback": "Outcomes per scoring rule",
        "rule": "Rule",
        "applies": "Same window and filters as the funnel:",
        "language": "日本語",
        "loading": "Loading…",
        "bad_key": "That key was refused. Enter a key with the read scope.",
    },
    "ja": {
        "title": "ファネル分析",
        "subtitle": "MQL → 受諾 (SAL) → SQL（handoff からライブ）",
        "key_prompt": "API キー（read スコープ）",
        "key_save": "開く",
        "key_forget": "キーを消去",
        "key_note": "このタブのみに保存（sessionStorage）。URL には含めません。",
        "window": "期間",
        "source": "ソース",
        "campaign": "キャンペーン",
        "pool": "プール",
        "rep": "担当者",
        "apply": "適用",
        "funnel": "ファネル",
        "mqls": "MQL 数",
        "accepted": "受諾",
        "rejected": "却下",
        "sql": "SQL",
        "acceptance_rate": "受諾率",
        "mql_to_sql": "MQL → SQL",
        "sal_to_sql": "SAL → SQL",
        "recycle_share": "リサイクル",
        "disqualify_share": "失格",
        "weekly": "週次の推移",
        "reasons": "営業の却下理由",
        "reason": "理由",
        "count": "件数",
        "share": "割合",
        "time_to_accept": "受諾までの時間",
        "p50": "中央値",
        "p90": "90 パーセンタイル",
        "sla": "SLA 遵守率",
        "stage": "段階",
        "met": "遵守",
        "breached": "違反",
        "compliance": "遵守率",
        "alerts": "発生中のアラート",
        "no_alerts": "アラートなし：判定対象のグループはすべて健全な範囲です。",
        "band": "バンド",
        "group": "グループ",
        "value": "値",
        "samples": "件数",
        "whatif": "しきい値シミュレーション",
        "threshold": "MQL しきい値",
        "too_few": "件数不足",
        "feedback": "スコアリングルール別の結果",
        "rule": "ルール",
        "applies": "ファネルと同じ期間・条件：",
        "language": "English",
        "loading": "読み込み中…",
        "bad_key": "このキーは拒否されました。read スコープのキーを入力してください。",
    },
}


@router.get("/", response_class=HTMLResponse, summary="The funnel dashboard (asks for an API key)")
async def dashboard(
    request: Request,
    lang: Annotated[Literal["en", "ja"], Query(description="label language")] = "en",
) -> HTMLResponse:
    page = _env.get_template("dashboard.html").render(
        lang=lang,
        other="ja" if lang == "en" else "en",
        t=LABELS[lang],
        windows=["7d", "30d", "90d"],
    )
    # No data is on the page; the key stays in the browser. Keep the page out of shared caches.
    return HTMLResponse(
        page, headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
    )
