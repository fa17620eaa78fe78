"""Roster administration (scope admin): reps, pools and accounts, effective without a restart.

Each change is one transaction that writes the roster table and bumps its version; every
routing instance sees the new version on its next batch or request.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncConnection

from handoff.http.auth import require_scope
from handoff.http.body import invalid, json_payload
from handoff.http.limits import require_json
from handoff.http.problem import Problem
from handoff.settings import ApiKeyRecord
from handoff_routing.adapters import roster
from handoff_routing.adapters.roster import ACCOUNT, API, POOL, REP, SPECS, doc
from handoff_routing.adapters.roster_specs import AccountSpec, PoolSpec, RepSpec
from handoff_routing.config import RoutingConfig
from handoff_routing.entrypoints.api import body_schema
from handoff_routing.entrypoints.deps import Deps, RoutingDeps

router = APIRouter(prefix="/v1", tags=["roster"])

ADMIN = Depends(require_scope("admin"))
WRITE = [ADMIN, Depends(require_json)]
KEY_FIELD = {REP: "id", POOL: "name", ACCOUNT: "domain"}
WORD = {REP: "rep", POOL: "pool", ACCOUNT: "account"}


async def _entries(conn: AsyncConnection, kind: str) -> list[dict[str, Any]]:
    return [
        {**body, "managed_by": by} for k, _, body, by in await roster.entries(conn) if k == kind
    ]


def _parse(kind: str, key: str, raw: Any) -> BaseModel:
    field = KEY_FIELD[kind]
    if not isinstance(raw, dict):
        raise Problem(
            422,
            "The body must be a JSON object.",
            errors=[{"field": "body", "message": "not an object"}],
        )
    given = raw.get(field, key)
    if kind == ACCOUNT and isinstance(given, str):
        given = given.lower()
    if given != key:
        raise Problem(
            422,
            f"The {field} in the body differs from the path.",
            errors=[{"field": field, "message": f"must be {key!r}, as in the path"}],
        )
    try:
        return SPECS[kind].model_validate({**raw, field: key})
    except ValidationError as exc:
        raise invalid(exc, WORD[kind]) from None


async def _check_refs(conn: AsyncConnection, kind: str, spec: BaseModel) -> None:
    """Pool members and account owners must be reps on the roster: 422 naming the one missing."""
    reps = {k for kd, k, _, _ in await roster.entries(conn) if kd == REP}
    if isinstance(spec, PoolSpec):
        for n, member in enumerate(spec.members):
            if member not in reps:
                raise Problem(
                    422,
                    f"There is no rep {member!r} on the roster.",
                    errors=[{"field": f"members.{n}", "message": f"no rep {member!r}"}],
                )
    if isinstance(spec, AccountSpec) and spec.owner not in reps:
        raise Problem(
            422,
            f"There is no rep {spec.owner!r} on the roster.",
            errors=[{"field": "owner", "message": f"no rep {spec.owner!r}"}],
        )


async def _in_use(conn: AsyncConnection, config: RoutingConfig, kind: str, key: str) -> str | None:
    if kind == POOL:
        return config.pools_referenced().get(key)
    if kind == REP:
        for kd, k, body, _ in await roster.entries(conn):
            if kd == POOL and key in body.get("members", ()):
                return f"pool {k!r}"
            if kd == ACCOUNT and body.get("owner") == key:
                return f"account {k!r}"
    return None


async def _get(deps: RoutingDeps, kind: str, key: str) -> dict[str, Any]:
    async with deps.engine.connect() as conn:
        found = await roster.entry(conn, kind, key)
    if found is None:
        raise Problem(404, f"There is no {WORD[kind]} {key!r}.")
    return {**found[0], "managed_by": found[1]}


async def _put(
    deps: RoutingDeps, kind: str, key: str, raw: Any, *, merge: bool = False
) -> dict[str, Any]:
    async with deps.uow() as uow:
        await roster.lock_for_change(uow.conn)
        if merge:
            found = await roster.entry(uow.conn, kind, key, for_update=True)
            if found is None:
                raise Problem(404, f"There is no {WORD[kind]} {key!r}.")
            if not isinstance(raw, dict):
                raise Problem(
                    422,
                    "The body must be a JSON object.",
                    errors=[{"field": "body", "message": "not an object"}],
                )
            raw = {**found[0], **raw}
        spec = _parse(kind, key, raw)
        await _check_refs(uow.conn, kind, spec)
        body = doc(spec)
        await roster.put_entries(uow.conn, kind, {key: body}, API)
        await roster.bump_version(uow.conn)
        await uow.commit()
    deps.sweeper.wake()  # a rep back from leave, or a bigger pool, may take queued leads
    return {**body, "managed_by": API}


async def _delete(deps: RoutingDeps, kind: str, key: str) -> None:
    async with deps.uow() as uow:
        await roster.lock_for_change(uow.conn)
        if await roster.entry(uow.conn, kind, key) is None:
            raise Problem(404, f"There is no {WORD[kind]} {key!r}.")
        user = await _in_use(uow.conn, deps.config, kind, key)
        if user is not None:
            raise Problem(409, f"The {WORD[kind]} {key!r} is used by {user}; change that first.")
        await roster.delete_entries(uow.conn, kind, [key])
        await roster.bump_version(uow.conn)
        await uow.commit()


async def _payload(request: Request) -> Any:
    """The body as JSON, as a dependency declared before `Deps`: a bad body is a 422 first."""
    return json_payload(await request.body())


Admin = Annotated[ApiKeyRecord, ADMIN]
Payload = Annotated[Any, Depends(_payload)]


@router.get("/reps", summary="Every rep on the roster")
async def list_reps(key: Admin, deps: Deps) -> dict[str, list[dict[str, Any]]]:
    async with deps.engine.connect() as conn:
        return {"reps": await _entries(conn, REP)}


@router.get("/reps/{rep_id}", summary="One rep")
async def get_rep(rep_id: str, key: Admin, deps: Deps) -> dict[str, Any]:
    return await _get(deps, REP, rep_id)


@router.put(
    "/reps/{rep_id}",
    dependencies=WRITE,
    openapi_extra=body_schema(RepSpec),
    summary="Add or replace a rep",
)
async def put_rep(rep_id: str, raw: Payload, deps: Deps) -> dict[str, Any]:
    return await _put(deps, REP, rep_id, raw)


@router.patch(
    "/reps/{rep_id}",
    dependencies=WRITE,
    summary="Change some of a rep's fields (active, out_of_office, capacity, weight, ...)",
)
async def patch_rep(rep_id: str, raw: Payload, deps: Deps) -> dict[str, Any]:
    return await _put(deps, REP, rep_id, raw, merge=True)


@router.delete("/reps/{rep_id}", status_code=204, dependencies=[ADMIN], summary="Remove a rep")
async def delete_rep(rep_id: str, deps: Deps) -> None:
    await _delete(deps, REP, rep_id)


@router.get("/pools", summary="Every pool")
async def list_pools(key: Admin, deps: Deps) -> dict[str, list[dict[str, Any]]]:
    async with deps.engine.connect() as conn:
        return {"pools": await _entries(conn, POOL)}


@router.get("/pools/{name}", summary="One pool")
async def get_pool(name: str, key: Admin, deps: Deps) -> dict[str, Any]:
    return await _get(deps, POOL, name)


@router.put(
    "/pools/{name}",
    dependencies=WRITE,
    openapi_extra=body_schema(PoolSpec),
    summary="Add or replace a pool",
)
async def put_pool(name: str, raw: Payload, deps: Deps) -> dict[str, Any]:
    return await _put(deps, POOL, name, raw)


@router.delete("/pools/{name}", status_code=204, dependencies=[ADMIN], summary="Remove a pool")
async def delete_pool(name: str, deps: Deps) -> None:
    await _delete(deps, POOL, name)


@router.get("/accounts", summary="Every account")
async def list_accounts(key: Admin, deps: Deps) -> dict[str, list[dict[str, Any]]]:
    async with deps.engine.connect() as conn:
        return {"accounts": await _entries(conn, ACCOUNT)}


@router.get("/accounts/{domain}", summary="One account")
async def get_account(domain: str, key: Admin, deps: Deps) -> dict[str, Any]:
    return await _get(deps, ACCOUNT, domain.lower())


@router.put(
    "/accounts/{domain}",
    dependencies=WRITE,
    openapi_extra=body_schema(AccountSpec),
    summary="Add or replace an account",
)
async def put_account(domain: str, raw: Payload, deps: Deps) -> dict[str, Any]:
    return await _put(deps, ACCOUNT, domain.lower(), raw)


@router.delete(
    "/accounts/{domain}", status_code=204, dependencies=[ADMIN], summary="Remove an account"
)
async def delete_account(domain: str, deps: Deps) -> None:
    await _delete(deps, ACCOUNT, domain.lower())
