"""One-click accept and reject, and a rep's own queue page, without an API key.

A link carries a signed, expiring token (handoff.one_click) made by notify. GET shows a
page and changes nothing, so link scanners and prefetchers that follow links accept
nothing; the rep's click POSTs the token back in a form. A token works once: its digest
is recorded in the same transaction as the action. The queue page (a "view" token for the
rep) mints fresh single-use action tokens for each lead it lists.
"""

from __future__ import annotations

import time
from typing import Annotated
from urllib.parse import parse_qs, quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from handoff import one_click
from handoff_routing.adapters import rep_queue
from handoff_routing.domain.handoff import (
    Action,
    HandoffConflict,
    HandoffNotFound,
    RepAction,
    UnknownReasonCode,
    UnknownRep,
)
from handoff_routing.entrypoints import pages
from handoff_routing.entrypoints.deps import Deps, RoutingDeps
from handoff_routing.entrypoints.pages import Language, t
from handoff_routing.service_layer import handlers

router = APIRouter(prefix="/v1", tags=["one-click"])
HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
}
Token = Annotated[str, Query(max_length=2000, description="the signed one-click token")]
Lang = Annotated[Language | None, Query(description="en or ja; else the browser's language")]


def _html(body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(body, status_code=status, headers=HEADERS)


def _lang(request: Request, asked: str | None) -> Language:
    if asked in ("en", "ja"):
        return asked  # type: ignore[return-value]
    accepted = request.headers.get("accept-language", "")
    return "ja" if accepted.lower().startswith("ja") else "en"


def _secrets(deps: RoutingDeps) -> list[str]:
    return [s.get_secret_value() for s in deps.settings.one_click_secrets]


def _action_url(handoff_id: str) -> str:
    return f"/v1/handoffs/{quote(handoff_id, safe='')}/one-click"


def _refusal(lang: Language, exc: one_click.BadToken) -> HTMLResponse:
    key = "expired" if "expired" in str(exc) else "invalid"
    return _html(
        pages.message(lang, t("title", lang), t(key, lang)), 410 if key == "expired" else 400
    )


@router.get(
    "/handoffs/{handoff_id}/one-click",
    response_class=HTMLResponse,
    summary="A one-click link: a page to confirm the accept, or to pick a reject reason",
)
async def one_click_page(
    handoff_id: str, request: Request, token: Token, deps: Deps, lang: Lang = None
) -> HTMLResponse:
    language = _lang(request, lang)
    try:
        grant = one_click.verify(_secrets(deps), token, deps.clock(), handoff_id=handoff_id)
    except one_click.BadToken as exc:
        return _refusal(language, exc)
    if grant.action == "view":
        return _refusal(language, one_click.BadToken("not valid"))
    async with deps.engine.connect() as conn:
        if await rep_queue.was_used(conn, grant.digest):
            return _html(pages.message(language, t("title", language), t("used", language)), 410)
        label = await rep_queue.lead_label(conn, handoff_id)
    if label is None:
        return _refusal(language, one_click.BadToken("not valid"))
    if grant.action == "accept":
        return _html(pages.accept_form(language, _action_url(handoff_id), token, label))
    reasons = list(deps.config.reasons)
    return _html(pages.reject_form(language, _action_url(handoff_id), token, label, reasons))


@router.post(
    "/handoffs/{handoff_id}/one-click",
    response_class=HTMLResponse,
    summary="Perform a one-click accept or reject (a form post from the page above)",
)
async def one_click_act(handoff_id: str, request: Request, deps: Deps) -> HTMLResponse:
    form = {k: v[0] for k, v in parse_qs((await request.body()).decode("utf-8", "replace")).items()}
    language = _lang(request, form.get("lang"))
    now = deps.clock()
    try:
        grant = one_click.verify(_secrets(deps), form.get("token", ""), now, handoff_id=handoff_id)
    except one_click.BadToken as exc:
        return _refusal(language, exc)
    if grant.action == "view":
        return _refusal(language, one_click.BadToken("not valid"))
    reason = form.get("reason_code")
    if grant.action == "reject" and not reason:
        return _html(pages.message(language, t("title", language), t("pick", language)), 422)
    action = (
        RepAction(Action.ACCEPT, handoff_id, grant.rep_id)
        if grant.action == "accept"
        else RepAction(
            Action.REJECT,
            handoff_id,
            grant.rep_id,
            reason_code=reason,
            note=form.get("note") or None,
        )
    )
    async with deps.uow() as uow:
        if not await rep_queue.use_once(
            uow.conn, grant.digest, handoff_id, grant.rep_id, grant.action, now
        ):
            return _html(pages.message(language, t("title", language), t("used", language)), 410)
        try:
            _, freed = await handlers.act(uow, deps.routing, action)
        except HandoffConflict as exc:
            words = f"{t('conflict', language)} {exc.detail}"
            return _html(pages.message(language, t("title", language), words), 409)
        except UnknownReasonCode:
            return _html(pages.message(language, t("title", language), t("pick", language)), 422)
        except (HandoffNotFound, UnknownRep):
            return _refusal(language, one_click.BadToken("not valid"))
        await uow.commit()
    if freed:
        deps.sweeper.wake()
    done = "accepted" if grant.action == "accept" else "rejected"
    return _html(pages.message(language, t("title", language), t(done, language)))


@router.get(
    "/reps/{rep_id}/page",
    response_class=HTMLResponse,
    summary="A rep's own page: open leads with Accept and Reject (a 'view' token, no API key)",
)
async def rep_page(
    rep_id: str, request: Request, token: Token, deps: Deps, lang: Lang = None
) -> HTMLResponse:
    language = _lang(request, lang)
    now = deps.clock()
    secrets = _secrets(deps)
    try:
        grant = one_click.verify(secrets, token, now, handoff_id="*")
    except one_click.BadToken as exc:
        return _refusal(language, exc)
    if grant.action != "view" or grant.rep_id != rep_id:
        return _refusal(language, one_click.BadToken("not valid"))
    async with deps.engine.connect() as conn:
        items = await rep_queue.queue(conn, rep_id, "open", now, 200)
        roster = await deps.rosters.current(conn)
    rep = roster.reps.get(rep_id)
    zone = (rep.timezone if rep else None) or "UTC"
    expires = int(time.time()) + deps.settings.one_click_ttl_seconds
    actions = {}
    for item in items:
        if item.state != "assigned":
            continue
        accept = one_click.sign(secrets[0], item.handoff_id, rep_id, "accept", expires)
        reject = one_click.sign(secrets[0], item.handoff_id, rep_id, "reject", expires)
        link = f"{_action_url(item.handoff_id)}?token={reject}&lang={language}"
        actions[item.handoff_id] = (_action_url(item.handoff_id), accept, link)
    return _html(pages.queue_page(language, items, zone, now, actions))
