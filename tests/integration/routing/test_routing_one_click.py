"""Routing's one-click links and a rep's queue, on the real app and database: a link's GET
changes nothing, its POST acts once; expired, reused, tampered and foreign links say so and
change nothing; the queue lists the lead, the MQL reason, the SLA due time and the state."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy.ext.asyncio import AsyncEngine

from handoff import one_click
from handoff.events import sla
from handoff.events.envelope import utcnow
from handoff.events.signals import Company, Traits
from handoff.http.auth import new_api_key
from handoff_dev.ports import free_port
from handoff_routing.app import create_app
from handoff_routing.service_layer.handoff_batch import handoff_id_for
from handoff_routing.settings import RoutingSettings
from tests.factories import mql, new_id
from tests.integration.routing.test_routing_handler import route, team

KEY, OLD_KEY = "one-click-key-new-" + "n" * 20, "one-click-key-old-" + "o" * 20
REP = "aiko.tanaka"


@dataclass
class Api:
    client: httpx.AsyncClient
    reader: dict[str, str]
    writer: dict[str, str]
    admin: dict[str, str]
    app: Any


@pytest.fixture(scope="module")
async def api(database_url: str, bootstrap: str, config_dir: Path) -> AsyncIterator[Api]:
    reader_secret, reader = new_api_key("crm", ["read"])
    writer_secret, writer = new_api_key("w", ["handoffs:write", "read"])
    admin_secret, admin = new_api_key("ops", ["admin"])
    settings = RoutingSettings(
        database_url=database_url,
        kafka_bootstrap_servers=bootstrap,
        config_dir=config_dir,
        api_keys=[reader, writer, admin],
        HANDOFF_ONE_CLICK_SECRETS=[KEY, OLD_KEY],
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://routing") as client:
            yield Api(
                client,
                {"authorization": f"Bearer {reader_secret}"},
                {"authorization": f"Bearer {writer_secret}"},
                {"authorization": f"Bearer {admin_secret}"},
                app,
            )


async def handed_over(
    engine: AsyncEngine, reason: str = "Asked for a demo twice this week.", rep: str = REP
) -> tuple[str, str]:
    """A fresh lead, with a name and company, assigned to `rep`: (lead_id, handoff_id)."""
    lead = new_id()
    event = mql(lead)
    data = event.data.model_copy(
        update={
            "reason": reason,
            "traits": Traits(name="Mei Suzuki", company=Company(name="Kumo KK")),
        }
    )
    event = event.model_copy(update={"data": data})
    await route(engine, team((rep, True)), [event])
    return lead, handoff_id_for(event.data.mql_id)


def token(
    handoff_id: str, action: str, *, rep: str = REP, key: str = KEY, seconds: int = 3600
) -> str:
    return one_click.sign(key, handoff_id, rep, action, int(time.time()) + seconds)


async def state_of(api: Api, lead: str) -> str:
    r = await api.client.get(f"/v1/leads/{lead}/handoff", headers=api.reader)
    return str(r.json()["state"])


def link(handoff_id: str) -> str:
    return f"/v1/handoffs/{handoff_id}/one-click"


async def test_the_link_shows_a_confirm_page_and_only_the_post_accepts_once(
    api: Api, engine: AsyncEngine
) -> None:
    lead, handoff_id = await handed_over(engine)
    tok = token(handoff_id, "accept")
    page = await api.client.get(link(handoff_id), params={"token": tok})
    assert page.status_code == 200
    assert "Mei Suzuki, Kumo KK" in page.text and "Accept this lead?" in page.text
    assert page.headers["referrer-policy"] == "no-referrer"
    assert await state_of(api, lead) == "assigned"  # a GET (a link scanner) changes nothing
    done = await api.client.post(link(handoff_id), data={"token": tok})
    assert done.status_code == 200 and "you accepted the lead" in done.text
    assert await state_of(api, lead) == "accepted"
    again = await api.client.post(link(handoff_id), data={"token": tok})
    assert again.status_code == 410 and "already been used. Nothing was changed." in again.text
    shown = await api.client.get(link(handoff_id), params={"token": tok})
    assert shown.status_code == 410 and "already been used" in shown.text


async def test_an_expired_link_says_so_and_changes_nothing(api: Api, engine: AsyncEngine) -> None:
    lead, handoff_id = await handed_over(engine)
    tok = token(handoff_id, "accept", seconds=-1)
    for r in (
        await api.client.get(link(handoff_id), params={"token": tok}),
        await api.client.post(link(handoff_id), data={"token": tok}),
    ):
        assert r.status_code == 410 and "This link has expired. Nothing was changed." in r.text
    assert await state_of(api, lead) == "assigned"


async def test_a_tampered_link_and_a_link_for_another_handoff_are_not_valid(
    api: Api, engine: AsyncEngine
) -> None:
    lead, handoff_id = await handed_over(engine)
    tok = token(handoff_id, "accept")
    payload, mac = tok.split(".")
    tampered = payload + "." + ("A" if mac[0] != "A" else "B") + mac[1:]
    r = await api.client.post(link(handoff_id), data={"token": tampered})
    assert r.status_code == 400 and "This link is not valid. Nothing was changed." in r.text
    _, other = await handed_over(engine)
    r = await api.client.post(link(other), data={"token": tok})
    assert r.status_code == 400
    assert await state_of(api, lead) == "assigned"


async def test_a_link_for_the_wrong_rep_changes_nothing(api: Api, engine: AsyncEngine) -> None:
    lead, handoff_id = await handed_over(engine)
    tok = token(handoff_id, "accept", rep="kenji.sato")
    r = await api.client.post(link(handoff_id), data={"token": tok})
    assert r.status_code == 409 and "Nothing was changed" in r.text
    assert await state_of(api, lead) == "assigned"


async def test_a_link_signed_with_the_previous_key_works_during_a_rotation(
    api: Api, engine: AsyncEngine
) -> None:
    lead, handoff_id = await handed_over(engine)
    r = await api.client.post(
        link(handoff_id), data={"token": token(handoff_id, "accept", key=OLD_KEY)}
    )
    assert r.status_code == 200
    assert await state_of(api, lead) == "accepted"


async def test_reject_opens_the_reason_codes_in_the_reps_language_and_rejects_with_one(
    api: Api, engine: AsyncEngine
) -> None:
    lead, handoff_id = await handed_over(engine)
    tok = token(handoff_id, "reject")
    page = await api.client.get(link(handoff_id), params={"token": tok, "lang": "ja"})
    assert page.status_code == 200
    assert "却下する理由を選んでください" in page.text and "予算なし" in page.text
    english = await api.client.get(
        link(handoff_id), params={"token": tok}, headers={"accept-language": "en-GB"}
    )
    assert "No budget" in english.text
    none = await api.client.post(link(handoff_id), data={"token": tok, "lang": "ja"})
    assert none.status_code == 422 and "理由を選んでください" in none.text
    done = await api.client.post(
        link(handoff_id), data={"token": tok, "lang": "ja", "reason_code": "no_budget"}
    )
    assert done.status_code == 200 and "却下しました" in done.text
    r = await api.client.get(f"/v1/leads/{lead}/handoff", headers=api.reader)
    assert r.json()["state"] in ("rejected", "recycled") or r.json()["reason_code"] == "no_budget"


async def _sla(
    engine: AsyncEngine, handoff_id: str, lead: str, kind: type[Any], due_in: timedelta
) -> None:
    now = utcnow()
    data = sla.FiredData(
        lead_id=lead,
        handoff_id=handoff_id,
        timer_id=new_id("t"),
        policy="p",
        stage="accept",
        due_at=now + due_in,
        rep_id=REP,
        fired_at=now,
    )
    await route(engine, team((REP, True)), [kind(id=new_id("evt"), subject=lead, data=data)])


async def test_a_reps_queue_lists_lead_reason_due_time_and_state_paged(
    api: Api, engine: AsyncEngine
) -> None:
    rep_leads = []
    for n in range(3):
        rep_leads.append(await handed_over(engine, reason=f"reason {n}"))
    (l0, h0), (l1, h1), (_, h2) = rep_leads
    await _sla(engine, h0, l0, sla.SlaWarning, timedelta(minutes=30))
    await _sla(engine, h1, l1, sla.SlaBreached, timedelta(minutes=-5))
    await api.client.post(link(h2), data={"token": token(h2, "accept")})

    mine = sorted([h0, h1, h2])  # assigned at the same (fixed) time: ordered by handoff id

    async def ids(state: str) -> list[dict[str, Any]]:
        """Every page of the rep's queue in `state`, keeping this test's handoffs."""
        found: list[dict[str, Any]] = []
        after = None
        while True:
            params: dict[str, Any] = {"state": state, "limit": 500}
            if after:
                params["after"] = after
            r = await api.client.get(f"/v1/reps/{REP}/handoffs", params=params, headers=api.reader)
            assert r.status_code == 200, r.text
            found += [h for h in r.json()["handoffs"] if h["handoff_id"] in mine]
            after = r.json()["next_after"]
            if after is None:
                return found

    opened = await ids("open")
    assert [h["handoff_id"] for h in opened] == mine
    first = next(h for h in opened if h["handoff_id"] == h0)
    assert (first["lead_name"], first["company_name"], first["reason"]) == (
        "Mei Suzuki",
        "Kumo KK",
        "reason 0",
    )
    assert first["due_stage"] == "accept" and first["due_at"] is not None and not first["overdue"]
    assert [h["handoff_id"] for h in await ids("assigned")] == sorted([h0, h1])
    assert [h["handoff_id"] for h in await ids("accepted")] == [h2]
    assert [h["handoff_id"] for h in await ids("overdue")] == [h1]

    page = await api.client.get(f"/v1/reps/{REP}/handoffs", params={"limit": 1}, headers=api.reader)
    assert len(page.json()["handoffs"]) == 1 and page.json()["next_after"]
    nxt = await api.client.get(
        f"/v1/reps/{REP}/handoffs",
        params={"limit": 1, "after": page.json()["next_after"]},
        headers=api.reader,
    )
    assert nxt.json()["handoffs"][0]["handoff_id"] != page.json()["handoffs"][0]["handoff_id"]
    bad = await api.client.get(
        f"/v1/reps/{REP}/handoffs", params={"state": "lost"}, headers=api.reader
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "state"
    assert (await api.client.get(f"/v1/reps/{REP}/handoffs")).status_code == 401


async def new_rep(api: Api) -> str:
    """A rep of their own (in no pool), so the page shows only this test's leads."""
    rep = new_id("rep").lower()
    r = await api.client.put(
        f"/v1/reps/{rep}",
        json={
            "id": rep,
            "name": "Yui Mori",
            "email": "yui@example.com",
            "team": "jp",
            "timezone": "Asia/Tokyo",
        },
        headers={**api.admin, "content-type": "application/json"},
    )
    assert r.status_code in (200, 201), r.text
    return rep


async def test_the_reps_page_lists_open_leads_with_working_buttons_without_an_api_key(
    api: Api, engine: AsyncEngine
) -> None:
    rep = await new_rep(api)
    lead, handoff_id = await handed_over(engine, reason="Visited pricing three times.", rep=rep)
    view = one_click.sign(KEY, "*", rep, "view", int(time.time()) + 600)
    page = await api.client.get(f"/v1/reps/{rep}/page", params={"token": view, "lang": "ja"})
    assert page.status_code == 200
    assert "あなたの未対応リード" in page.text and "Visited pricing three times." in page.text
    card = re.search(rf'data-handoff="{handoff_id}".*?</div></div>', page.text, re.S)
    assert card is not None
    accept_token = re.search(r'name="token" value="([^"]+)"', card.group(0))
    assert accept_token is not None
    done = await api.client.post(link(handoff_id), data={"token": accept_token.group(1)})
    assert done.status_code == 200 and await state_of(api, lead) == "accepted"
    other = await api.client.get("/v1/reps/kenji.sato/page", params={"token": view})
    assert other.status_code == 400  # a rep's view token shows only that rep's page
    assert "Bearer" not in page.text and "hk_" not in page.text  # no API key on the page


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="needs chromium (the Makefile's install step)")
async def test_the_reps_page_renders_in_headless_chromium(
    api: Api, engine: AsyncEngine, tmp_path: Path
) -> None:
    rep = await new_rep(api)
    await handed_over(engine, reason="Requested a demo after three pricing-page visits.", rep=rep)
    await handed_over(engine, reason="Downloaded the security whitepaper.", rep=rep)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(api.app, host="127.0.0.1", port=port, lifespan="off", log_config=None)
    )
    serving = asyncio.create_task(server.serve())
    try:
        while not server.started:  # noqa: ASYNC110 - uvicorn offers no event
            await asyncio.sleep(0.05)
        view = one_click.sign(KEY, "*", rep, "view", int(time.time()) + 600)
        url = f"http://127.0.0.1:{port}/v1/reps/{rep}/page?token={view}&lang=en"
        shot = tmp_path / "rep-page.png"
        flags = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--window-size=900,640",
        ]
        dom = await _chromium(*flags, "--dump-dom", url)
        assert "Your open leads" in dom and "Downloaded the security whitepaper." in dom
        assert dom.count('class="ok"') == 2  # an Accept button per waiting lead
        await _chromium(*flags, f"--screenshot={shot}", url)
        assert shot.stat().st_size > 5000
        keep = os.environ.get("HANDOFF_KEEP_SCREENSHOT")
        if keep:
            shutil.copy(shot, keep)
    finally:
        server.should_exit = True
        await serving


async def _chromium(*args: str) -> str:
    assert CHROMIUM is not None
    proc = await asyncio.create_subprocess_exec(
        CHROMIUM, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 90)
    assert proc.returncode == 0
    return out.decode()


async def test_a_reps_queue_shows_the_due_time_as_soon_as_the_timer_starts(
    api: Api, engine: AsyncEngine
) -> None:
    lead, handoff = await handed_over(engine, reason="fresh")
    now = utcnow()
    due = now + timedelta(hours=4)
    data = sla.StartedData(
        lead_id=lead,
        handoff_id=handoff,
        timer_id=new_id("t"),
        policy="p",
        stage="accept",
        due_at=due,
        rep_id=REP,
        started_at=now,
    )
    started = sla.SlaStarted(id=new_id("evt"), subject=lead, data=data)
    await route(engine, team((REP, True)), [started])

    r = await api.client.get(
        f"/v1/reps/{REP}/handoffs", params={"state": "open", "limit": 500}, headers=api.reader
    )
    mine = next(h for h in r.json()["handoffs"] if h["handoff_id"] == handoff)
    assert mine["due_stage"] == "accept" and not mine["overdue"]
    assert mine["due_at"] is not None
    assert abs((datetime.fromisoformat(mine["due_at"]) - due).total_seconds()) < 1
