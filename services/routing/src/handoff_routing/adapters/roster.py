"""The roster repository: reps, pools and accounts as the database holds them (JSON documents in
routing.roster), seeded from routing.yaml at start, changed by the admin API, cached per
instance and reloaded when their version moves."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

import structlog
from pydantic import BaseModel, ValidationError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from handoff_routing.adapters.roster_specs import (
    AccountSpec,
    PoolSpec,
    RepSpec,
    account_of,
    pool_of,
    rep_of,
)
from handoff_routing.config import RoutingConfig
from handoff_routing.domain.roster import Account, Pool, Rep, Roster

log = structlog.get_logger("handoff.routing")

REP, POOL, ACCOUNT = "rep", "pool", "account"
CONFIG, API = "config", "api"
SPECS: dict[str, type[BaseModel]] = {REP: RepSpec, POOL: PoolSpec, ACCOUNT: AccountSpec}


async def read_version(conn: AsyncConnection) -> int:
    return int(
        await conn.scalar(text("SELECT version FROM routing.roster_version WHERE id = 1")) or 0
    )


async def bump_version(conn: AsyncConnection) -> None:
    await conn.execute(text("UPDATE routing.roster_version SET version = version + 1 WHERE id = 1"))


async def entries(conn: AsyncConnection) -> list[tuple[str, str, dict[str, Any], str]]:
    rows = await conn.execute(
        text("SELECT kind, key, doc, managed_by FROM routing.roster ORDER BY kind, key")
    )
    return [(r.kind, r.key, dict(r.doc), r.managed_by) for r in rows]


async def entry(
    conn: AsyncConnection, kind: str, key: str, *, for_update: bool = False
) -> tuple[dict[str, Any], str] | None:
    lock = " FOR UPDATE" if for_update else ""
    row = (
        await conn.execute(
            text(
                f"SELECT doc, managed_by FROM routing.roster WHERE kind = :kind AND key = :key{lock}"
            ),
            {"kind": kind, "key": key},
        )
    ).first()
    return None if row is None else (dict(row.doc), row.managed_by)


async def put_entries(
    conn: AsyncConnection, kind: str, docs: Mapping[str, dict[str, Any]], managed_by: str
) -> None:
    if not docs:
        return
    await conn.execute(
        text(
            "INSERT INTO routing.roster (kind, key, doc, managed_by, updated_at) "
            "SELECT :kind, k, CAST(d AS jsonb), :by, now() "
            "FROM unnest(CAST(:keys AS text[]), CAST(:docs AS text[])) AS v(k, d) "
            "ON CONFLICT (kind, key) DO UPDATE SET doc = excluded.doc, "
            "managed_by = excluded.managed_by, updated_at = now()"
        ),
        {
            "kind": kind,
            "by": managed_by,
            "keys": list(docs),
            "docs": [json.dumps(d, ensure_ascii=False) for d in docs.values()],
        },
    )


async def delete_entries(conn: AsyncConnection, kind: str, keys: Iterable[str]) -> int:
    result = await conn.execute(
        text("DELETE FROM routing.roster WHERE kind = :kind AND key = ANY(CAST(:keys AS text[]))"),
        {"kind": kind, "keys": list(keys)},
    )
    return int(result.rowcount)


async def lock_for_change(conn: AsyncConnection) -> None:
    """Serialize roster changes (admin API) until the transaction ends."""
    await conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('handoff.routing.roster'))"))


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
    existing = {(k, key): (d, by) for k, key, d, by in await entries(conn)}
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
            await put_entries(conn, kind, writes, CONFIG)
        if gone:
            await delete_entries(conn, kind, gone)
        changed = changed or bool(writes or gone)
    if changed:
        await bump_version(conn)
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
        version = await read_version(conn)
        if version != self.version:
            self.roster = build(await entries(conn), self.default_pool)
            self.version = version
        return self.roster
