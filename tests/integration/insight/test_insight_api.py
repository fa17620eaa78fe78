"""insight's HTTP API on the real app and database: the feedback and what-if honour the same
window and filters as the funnel, rule reasons carry their labels, open alerts read as
sentences, and a filtered funnel is summed from the cube, not read from the MQL rows."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from handoff.http.auth import new_api_key
from handoff_insight.adapters import alert_states
from handoff_insight.adapters.alert_states import AlertState
from handoff_insight.app import create_app
from handoff_insight.settings import InsightSettings
from tests.factories import new_id
from tests.insight_facts import (
    accepted_event,
    assigned_event,
    mql_event,
    rejected_event,
    sql_event,
)
from tests.integration.insight.test_insight_funnel import QUIET, apply

NOW = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
S = timedelta(seconds=1)


@pytest.fixture(scope="module")
async def client(
    database_url: str, bootstrap: str, config_dir: Path
) -> AsyncIterator[tuple[httpx.AsyncClient, Any]]:
    secret, reader = new_api_key("dashboard", ["read"])
    settings = InsightSettings(
        database_url=database_url,
        kafka_bootstrap_servers=bootstrap,
        config_dir=config_dir,
        api_keys=[reader],
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport,
            base_url="http://insight",
            headers={"authorization": f"Bearer {secret}"},
        ) as c:
            yield c, app


async def mql(
    engine: AsyncEngine, *, source: str, campaign: str, rule: str, score: int, outcome: str
) -> None:
    lead, mql_id, h = new_id(), new_id("mql"), new_id("h")
    events: list[Any] = [
        mql_event(lead, mql_id, at=NOW, source=source, campaign=campaign, score=score, rule=rule),
        assigned_event(lead, mql_id, h, at=NOW + S, pool="jp"),
    ]
    if outcome in ("accepted", "sql"):
        events.append(accepted_event(lead, h, at=NOW + 9 * S))
    if outcome == "sql":
        events.append(sql_event(lead, h, at=NOW + 99 * S))
    if outcome.startswith("rejected:"):
        events.append(rejected_event(lead, h, at=NOW + 9 * S, reason=outcome.split(":")[1]))
    await apply(engine, QUIET, events)


@pytest.fixture(scope="module")
async def one_source(engine: AsyncEngine) -> dict[str, str]:
    """A source with two campaigns: A (rejected for no budget, and one SQL), B (rejected:
    not the decision maker). Every MQL credits the same scoring rule."""
    names = {"source": new_id("src"), "a": new_id("camp"), "b": new_id("camp")}
    names["rule"] = new_id("rule")
    for campaign, score, outcome in (
        (names["a"], 70, "rejected:no_budget"),
        (names["a"], 80, "sql"),
        (names["b"], 90, "rejected:not_decision_maker"),
    ):
        await mql(
            engine,
            source=names["source"],
            campaign=campaign,
            rule=names["rule"],
            score=score,
            outcome=outcome,
        )
    return names


def rule_of(feedback: dict[str, Any], rule: str) -> dict[str, Any]:
    return next(o for o in feedback["by_rule"] if o["name"] == rule)


async def test_feedback_and_what_if_honour_the_funnel_s_filters_with_labelled_reasons(
    client: tuple[httpx.AsyncClient, Any], one_source: dict[str, str]
) -> None:
    http, _ = client
    resp = await http.get(
        "/v1/funnel/feedback", params={"window": "30d", "campaign": one_source["a"]}
    )
    assert resp.status_code == 200, resp.text
    fb = resp.json()
    assert fb["filters"] == {"campaign": one_source["a"]}
    rule = rule_of(fb, one_source["rule"])
    assert (rule["mqls"], rule["accepted"], rule["rejected"], rule["sql"]) == (2, 1, 1, 1)
    assert rule["rejected_by_reason"] == {"no_budget": 1}
    assert [(r["code"], r["count"], r["label_en"], r["label_ja"]) for r in rule["reasons"]] == [
        ("no_budget", 1, "No budget", "予算なし")
    ]
    # Only the campaign's two MQLs (scores 70 and 80) are in the what-if.
    lowest = fb["what_if"][0]
    assert (lowest["threshold"], lowest["mqls"], lowest["decided"]) == (70, 2, 2)
    assert sum(o["mqls"] for o in fb["by_trigger"]) == 2

    by_source = (
        await http.get("/v1/funnel/feedback", params={"source": one_source["source"]})
    ).json()
    rule = rule_of(by_source, one_source["rule"])
    assert (rule["mqls"], rule["rejected"]) == (3, 2)
    assert {r["code"]: r["label_en"] for r in rule["reasons"]} == {
        "no_budget": "No budget",
        "not_decision_maker": "Not the decision maker",
    }
    assert by_source["what_if"][0]["mqls"] == 3


async def test_a_filtered_funnel_is_summed_from_the_cube_not_read_from_the_rows(
    client: tuple[httpx.AsyncClient, Any], one_source: dict[str, str]
) -> None:
    http, app = client
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    engine = app.state.runtime.engine.sync_engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        resp = await http.get(
            "/v1/funnel", params={"window": "30d", "by": "campaign", "source": one_source["source"]}
        )
        week = await http.get(
            "/v1/funnel", params={"by": "week", "source": one_source["source"], "rep": "rep-1"}
        )
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert resp.status_code == 200 and week.status_code == 200, resp.text
    report = resp.json()
    assert report["filters"] == {"source": one_source["source"]}
    groups = {g["group"]: g["kpis"] for g in report["groups"]}
    a, b = groups[one_source["a"]], groups[one_source["b"]]
    assert (a["mqls"], a["accepted"], a["rejected"], a["sql"]) == (2, 1, 1, 1)
    assert (b["mqls"], b["rejected"], b["reasons"][0]["label_ja"]) == (1, 1, "決裁者でない")
    overall = report["overall"]
    assert (overall["mqls"], overall["decided"], overall["acceptance_rate"]) == (3, 3, 1 / 3)
    monday = NOW.date() - timedelta(days=NOW.weekday())
    assert [(g["group"], g["kpis"]["mqls"]) for g in week.json()["groups"]] == [
        (monday.isoformat(), 3)
    ]
    reads = [s for s in statements if "insight." in s]
    assert reads and all("insight.funnel" not in s for s in reads), reads


async def test_an_open_alert_is_a_sentence_in_both_languages_beside_its_raw_ids(
    client: tuple[httpx.AsyncClient, Any], engine: AsyncEngine
) -> None:
    http, _ = client
    campaign = new_id("camp")
    state = AlertState(
        "accept_sla_missed", "campaign", campaign, True, "sla_compliance_accept", 0.75, 8, NOW
    )
    async with engine.begin() as conn:
        await alert_states.save(conn, [state])
    try:
        alerts = (await http.get("/v1/funnel/alerts")).json()["alerts"]
    finally:
        async with engine.begin() as conn:  # leave no open alert behind for other tests
            await alert_states.save(conn, [replace(state, raised=False)])
    found = next(a for a in alerts if a["group"] == campaign)
    assert (found["band"], found["metric"], found["group_by"], found["below"]) == (
        "accept_sla_missed",
        "sla_compliance_accept",
        "campaign",
        0.9,
    )
    # config/insight.yaml judges over 30 days.
    assert found["message_en"] == (
        f"Accept SLA compliance 75.0% is under the 90% target — campaign {campaign}, "
        "8 samples, last 30 days"
    )
    assert found["message_ja"] == (
        f"受諾 SLA 遵守率 75.0% が目標 90% を下回っています（キャンペーン {campaign}、8 件、直近 30 日）"
    )
