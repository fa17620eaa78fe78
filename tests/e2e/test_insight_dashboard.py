"""The insight dashboard in a real headless Chromium: a manager enters the key, filters a
campaign and sees its funnel numbers, the rejection reasons in English and Japanese, and
the open alert. The screenshot is saved beside the test's output and under .artifacts/."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import httpx
import pytest

from tests.chromium import BINARY, Chromium
from tests.e2e.conftest import System
from tests.e2e.test_insight_flow import drive_campaign
from tests.factories import new_id

REPO = Path(__file__).resolve().parents[2]
STABLE = REPO / ".artifacts" / "insight-dashboard.png"


@pytest.mark.skipif(
    shutil.which("chromium") is None and not Path(BINARY).exists(),
    reason="Debian's chromium is missing: `make test` installs it (see README)",
)
async def test_a_manager_sees_the_funnel_reasons_and_alert_of_a_campaign(
    system: System, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    campaign = new_id("camp")
    await drive_campaign(system, http, campaign)
    browser = await asyncio.to_thread(Chromium)
    try:
        await asyncio.to_thread(browser.open, f"{system.insight.url}/")
        # No key yet: the page asks for one and shows no numbers.
        assert browser.evaluate("document.getElementById('keyform').hidden") is False
        assert browser.evaluate("document.getElementById('board').hidden") is True
        browser.type_into("#apikey", system.stack.api_key)
        browser.click("#key button[type=submit]")
        assert await asyncio.to_thread(browser.wait_for, "document.body.dataset.loaded === 'yes'")
        assert system.stack.api_key not in browser.evaluate("location.href")
        browser.type_into("input[name=campaign]", campaign)
        browser.evaluate("document.body.dataset.loaded = 'no'")
        browser.click("#filters button[type=submit]")
        assert await asyncio.to_thread(
            browser.wait_for,
            "document.body.dataset.loaded === 'yes' && document.getElementById('n-mqls').innerText === '4'",
        ), browser.text("#n-mqls")
        funnel = [browser.text(f"#n-{n}") for n in ("mqls", "accepted", "sql", "rejected")]
        assert funnel == ["4", "2", "1", "1"]
        assert browser.text("#r-acceptance_rate") == "66.7%"
        assert browser.text("#r-mql_to_sql") == "25.0%"
        assert "No budget" in browser.text("#reasons")
        assert "75.0%" in browser.text("#sla")
        # The open alert is a sentence; its raw ids stay on hover and in small print.
        alerts = browser.text("#alerts")
        assert (
            f"Accept SLA compliance 75.0% is under the 90% target — campaign {campaign}, "
            "4 samples, last 30 days"
        ) in alerts
        titles = browser.evaluate(
            "[...document.querySelectorAll('#alerts .alert')].map((d) => d.title).join('\\n')"
        )
        assert f"accept_sla_missed · campaign = {campaign} · sla_compliance_accept 75.0%" in titles
        # Outcomes per rule and the what-if follow the same filters, with labelled reasons.
        assert f"campaign = {campaign}".lower() in browser.text("#rules-filters").lower()
        assert f"campaign = {campaign}".lower() in browser.text("#whatif-filters").lower()
        assert "No budget 1" in browser.text("#rules")
        assert "no_budget" not in browser.text("#rules")
        assert (
            browser.evaluate("document.querySelector('#whatif tbody tr td:nth-child(2)').innerText")
            == "4"
        )  # the campaign's four MQLs at the lowest threshold, not every MQL
        assert await asyncio.to_thread(
            browser.wait_for, "window.Chart !== undefined"
        )  # vendored, no CDN
        shot = browser.screenshot(tmp_path / "insight-dashboard.png")
        browser.click("#reason-lang")
        assert "予算なし" in browser.text("#reasons")
        assert "予算なし 1" in browser.text("#rules")
        assert (
            f"受諾 SLA 遵守率 75.0% が目標 90% を下回っています（キャンペーン {campaign}、4 件、直近 30 日）"
            in browser.text("#alerts")
        )
    finally:
        await asyncio.to_thread(browser.close)
    STABLE.parent.mkdir(exist_ok=True)
    shutil.copyfile(shot, STABLE)
    assert shot.stat().st_size > 20_000  # a rendered page, not a blank one
