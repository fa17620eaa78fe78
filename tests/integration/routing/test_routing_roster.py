"""The roster in the database: routing.yaml seeds it, API changes survive a restart, and two
accepts racing on one handoff give one event."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from handoff.db import UnitOfWorkFactory
from handoff.events import routing
from handoff_routing.adapters import roster
from handoff_routing.adapters.roster import API, RosterStore
from handoff_routing.config import RoutingConfig, load_config
from handoff_routing.domain.handoff import Action, HandoffConflict, RepAction
from handoff_routing.service_layer import handlers
from handoff_routing.service_layer.handoff_batch import handoff_id_for
from tests.factories import mql, new_id
from tests.integration.routing.test_routing_handler import outbox_of, route, routing_for, team

REPO = Path(__file__).resolve().parents[3]


async def seed(engine: AsyncEngine, config: RoutingConfig) -> None:
    async with UnitOfWorkFactory(engine)() as uow:
        await roster.seed(uow.conn, config)
        await uow.commit()


async def entries(engine: AsyncEngine) -> dict[tuple[str, str], tuple[dict[str, object], str]]:
    async with engine.connect() as conn:
        return {(k, key): (d, by) for k, key, d, by in await roster.entries(conn)}


@pytest.fixture
async def shipped(engine: AsyncEngine) -> object:
    """Whatever a test seeds, the shipped roster is back afterwards for the tests after it."""
    yield None
    async with UnitOfWorkFactory(engine)() as uow:
        await roster.delete_entries(uow.conn, "rep", ["aiko.tanaka"])
        await uow.commit()
    await seed(engine, load_config(REPO / "config" / "routing.yaml"))


async def test_the_file_seeds_the_roster_and_api_changes_survive_a_restart(
    engine: AsyncEngine, tmp_path: Path, shipped: object
) -> None:
    config = load_config(REPO / "config" / "routing.yaml")
    await seed(engine, config)
    found = await entries(engine)
    assert found[("rep", "kenji.sato")][1] == "config"
    assert found[("account", "sakura-systems.co.jp")][0]["owner"] == "takeshi.ito"

    # An operator deactivates aiko through the API ...
    aiko = dict(found[("rep", "aiko.tanaka")][0], active=False)
    async with UnitOfWorkFactory(engine)() as uow:
        await roster.put_entries(uow.conn, "rep", {"aiko.tanaka": aiko}, API)
        await uow.commit()
    # ... then the file changes kenji and aiko, drops an account, and routing restarts.
    text = (REPO / "config" / "routing.yaml").read_text(encoding="utf-8")
    text = text.replace(
        "    weight: 2                # senior", "    weight: 3                # senior"
    )
    text = text.replace(
        '    timezone: Asia/Tokyo\n    working_hours: {days: [mon, tue, wed, thu, fri], start: "09:00"',
        '    timezone: Asia/Tokyo\n    max_open: 5\n    working_hours: {days: [mon, tue, wed, thu, fri], start: "09:00"',
        1,
    )
    text = text.replace(
        "  - domain: blue-harbor-bank.com\n    name: Blue Harbor Bank\n    owner: sophia.martin\n",
        "",
    )
    changed = tmp_path / "routing.yaml"
    changed.write_text(text, encoding="utf-8")
    before = await _version(engine)
    await seed(engine, load_config(changed))

    found = await entries(engine)
    assert found[("rep", "kenji.sato")][0]["weight"] == 3, "the file still owns kenji"
    assert found[("rep", "aiko.tanaka")] == (aiko, API), "the API's change is kept"
    assert ("account", "blue-harbor-bank.com") not in found
    assert await _version(engine) > before
    current = await RosterStore("inside-sales").current_from(engine)
    assert current.reps["aiko.tanaka"].active is False
    assert current.reps["kenji.sato"].weight == 3


async def _version(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return await roster.read_version(conn)


async def test_two_accepts_racing_on_one_handoff_give_one_event(engine: AsyncEngine) -> None:
    roster = team(("aiko", True), ("kenji", True))
    routing_ = routing_for(roster)
    lead = new_id()
    event = mql(lead)
    await route(engine, routing_, [event])
    handoff_id = handoff_id_for(event.data.mql_id)

    async def accept(rep: str) -> str:
        async with UnitOfWorkFactory(engine)() as uow:
            try:
                handoff, _ = await handlers.act(
                    uow, routing_, RepAction(Action.ACCEPT, handoff_id, rep)
                )
            except HandoffConflict as exc:
                return f"409 {exc.state}"
            await uow.commit()
            return str(handoff.state)

    results = await asyncio.gather(accept("aiko"), accept("aiko"), accept("kenji"), accept("aiko"))
    assert results.count("accepted") == 3
    assert results[2] in {"409 assigned", "409 accepted"}
    accepted = [e for e in await outbox_of(engine, [lead]) if isinstance(e, routing.LeadAccepted)]
    assert len(accepted) == 1
