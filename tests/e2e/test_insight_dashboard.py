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
        alerts = browser.text("#alerts")
        assert f"accept_sla_missed · campaign = {campaign}" in alerts
        assert await asyncio.to_thread(
            browser.wait_for, "window.Chart !== undefined"
        )  # vendored, no CDN
        shot = browser.screenshot(tmp_path / "insight-dashboard.png")
        browser.click("#reason-lang")
        assert "予算なし" in browser.text("#reasons")
    finally:
        await asyncio.to_thread(browser.close)
    STABLE.parent.mkdir(exist_ok=True)
    shutil.copyfile(shot, STABLE)
    assert shot.stat().st_size > 20_000  # a rendered page, not a blank one
