"""The roster as the database holds it: seeded from routing.yaml at start, changed by the admin
API, cached per instance and reloaded when its version moves."""

from __future__ import annotations

from typing import Any

import structlog
from pydantic import BaseModel, ValidationError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from handoff_routing.adapters import repository
from handoff_routing.config import RoutingConfig
from handoff_routing.domain.roster import Account, Pool, Rep, Roster
from handoff_routing.specs import AccountSpec, PoolSpec, RepSpec, account_of, pool_of, rep_of

log = structlog.get_logger("handoff.routing")

REP, POOL, ACCOUNT = "rep", "pool", "account"
CONFIG, API = "config", "api"
SPECS: dict[str, type[BaseModel]] = {REP: RepSpec, POOL: PoolSpec, ACCOUNT: AccountSpec}


def doc(spec: BaseModel) -> dict[str, Any]:
    return spec.model_dump(mode="json", by_alias=True, exclude_none=True)


def key_of(kind: str, spec: Any) -> str:
    return str(spec.id if kind == REP else spec.name if kind == POOL else spec.domain)


async def seed(conn: AsyncConnection, config: RoutingConfig) -> None:
    """Apply routing.yaml to the roster table, in the caller's transaction.

    The file wins for entries it last wrote; an entry the admin API changed since stays as
    the API left it (logged), until it is deleted through the API and the file re-seeds it.
    Entries the file wrote and no longer lists are removed.
    """
    await conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('handoff.routing.seed'))"))
    existing = {(k, key): (d, by) for k, key, d, by in await repository.roster_entries(conn)}
    changed = False
    for kind, specs in ((REP, config.reps), (POOL, config.pools), (ACCOUNT, config.accounts)):
        wanted = {key_of(kind, s): doc(s) for s in specs}
        writes: dict[str, dict[str, Any]] = {}
        for key, body in wanted.items():
            found = existing.get((kind, key))
            if found is None or (found[1] == CONFIG and found[0] != body):
                writes[key] = body
            elif found[1] == API and found[0] != body:
                log.warning("routing.seed.kept_api_change", kind=kind, key=key)
        gone = [
            k
            for (kd, k), (_, by) in existing.items()
            if kd == kind and by == CONFIG and k not in wanted
        ]
        if writes:
            await repository.put_entries(conn, kind, writes, CONFIG)
        if gone:
            await repository.delete_entries(conn, kind, gone)
        changed = changed or bool(writes or gone)
    if changed:
        await repository.bump_roster_version(conn)
    log.info("routing.seeded", changed=changed)


def build(entries: list[tuple[str, str, dict[str, Any], str]], default_pool: str) -> Roster:
    reps: dict[str, Rep] = {}
    pools: dict[str, Pool] = {}
    accounts: dict[str, Account] = {}
    for kind, key, body, _ in entries:
        try:
            if kind == REP:
                reps[key] = rep_of(RepSpec.model_validate(body))
            elif kind == POOL:
                pools[key] = pool_of(PoolSpec.model_validate(body))
            elif kind == ACCOUNT:
                accounts[key] = account_of(AccountSpec.model_validate(body))
        except ValidationError as exc:  # written through the same schema; only a bad hand edit
            log.error("routing.roster.bad_entry", kind=kind, key=key, error=str(exc.errors()[0]))
    return Roster(reps, pools, default_pool, accounts)


class RosterStore:
    """Each instance's cached roster; one cheap version read per batch keeps it current."""

    def __init__(self, default_pool: str) -> None:
        self.default_pool = default_pool
        self.version = -1
        self.roster = Roster({}, {}, default_pool)

    async def current_from(self, engine: AsyncEngine) -> Roster:
        async with engine.connect() as conn:
            return await self.current(conn)

    async def current(self, conn: AsyncConnection) -> Roster:
        version = await repository.roster_version(conn)
        if version != self.version:
            self.roster = build(await repository.roster_entries(conn), self.default_pool)
            self.version = version
        return self.roster
