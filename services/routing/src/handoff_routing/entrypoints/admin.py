"""Roster administration (scope admin): reps, pools and accounts, effective without a restart.

Each change is one transaction that writes the roster table and bumps its version; every
routing instance sees the new version on its next batch or request.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ValidationError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from handoff.http.auth import require_scope
from handoff.http.body import invalid, json_payload
from handoff.http.limits import require_json
from handoff.http.problem import Problem
from handoff.runtime import Runtime
from handoff.settings import ApiKeyRecord
from handoff_routing.adapters import repository
from handoff_routing.adapters.roster_store import ACCOUNT, API, POOL, REP, doc
from handoff_routing.config import RoutingConfig
from handoff_routing.entrypoints.api import body_schema
from handoff_routing.specs import AccountSpec, PoolSpec, RepSpec

router = APIRouter(prefix="/v1", tags=["roster"])

ADMIN = Depends(require_scope("admin"))
WRITE = [ADMIN, Depends(require_json)]
KEY_FIELD = {REP: "id", POOL: "name", ACCOUNT: "domain"}
SPEC: dict[str, type[BaseModel]] = {REP: RepSpec, POOL: PoolSpec, ACCOUNT: AccountSpec}
WORD = {REP: "rep", POOL: "pool", ACCOUNT: "account"}


async def _entries(conn: AsyncConnection, kind: str) -> list[dict[str, Any]]:
    return [
        {**body, "managed_by": by}
        for k, _, body, by in await repository.roster_entries(conn)
        if k == kind
    ]


async def _lock(conn: AsyncConnection) -> None:
    await conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('handoff.routing.roster'))"))


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
        return SPEC[kind].model_validate({**raw, field: key})
    except ValidationError as exc:
        raise invalid(exc, WORD[kind]) from None


async def _check_refs(conn: AsyncConnection, kind: str, spec: BaseModel) -> None:
    """Pool members and account owners must be reps on the roster: 422 naming the one missing."""
    reps = {k for kd, k, _, _ in await repository.roster_entries(conn) if kd == REP}
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
        for kd, k, body, _ in await repository.roster_entries(conn):
            if kd == POOL and key in body.get("members", ()):
                return f"pool {k!r}"
            if kd == ACCOUNT and body.get("owner") == key:
                return f"account {k!r}"
    return None


async def _get(request: Request, kind: str, key: str) -> dict[str, Any]:
    rt: Runtime = request.app.state.runtime
    async with rt.engine.connect() as conn:
        found = await repository.roster_entry(conn, kind, key)
    if found is None:
        raise Problem(404, f"There is no {WORD[kind]} {key!r}.")
    return {**found[0], "managed_by": found[1]}


async def _put(request: Request, kind: str, key: str, *, merge: bool = False) -> dict[str, Any]:
    rt: Runtime = request.app.state.runtime
    raw = json_payload(await request.body())
    async with rt.uow() as uow:
        await _lock(uow.conn)
        if merge:
            found = await repository.roster_entry(uow.conn, kind, key, for_update=True)
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
        await repository.put_entries(uow.conn, kind, {key: body}, API)
        await repository.bump_roster_version(uow.conn)
        await uow.commit()
    rt.state["sweeper"].wake()  # a rep back from leave, or a bigger pool, may take queued leads
    return {**body, "managed_by": API}


async def _delete(request: Request, kind: str, key: str) -> None:
    rt: Runtime = request.app.state.runtime
    async with rt.uow() as uow:
        await _lock(uow.conn)
        if await repository.roster_entry(uow.conn, kind, key) is None:
            raise Problem(404, f"There is no {WORD[kind]} {key!r}.")
        user = await _in_use(uow.conn, rt.state["config"], kind, key)
        if user is not None:
            raise Problem(409, f"The {WORD[kind]} {key!r} is used by {user}; change that first.")
        await repository.delete_entries(uow.conn, kind, [key])
        await repository.bump_roster_version(uow.conn)
        await uow.commit()


Admin = Annotated[ApiKeyRecord, ADMIN]


@router.get("/reps", summary="Every rep on the roster")
async def list_reps(request: Request, key: Admin) -> dict[str, list[dict[str, Any]]]:
    async with request.app.state.runtime.engine.connect() as conn:
        return {"reps": await _entries(conn, REP)}


@router.get("/reps/{rep_id}", summary="One rep")
async def get_rep(rep_id: str, request: Request, key: Admin) -> dict[str, Any]:
    return await _get(request, REP, rep_id)


@router.put(
    "/reps/{rep_id}",
    dependencies=WRITE,
    openapi_extra=body_schema(RepSpec),
    summary="Add or replace a rep",
)
async def put_rep(rep_id: str, request: Request) -> dict[str, Any]:
    return await _put(request, REP, rep_id)


@router.patch(
    "/reps/{rep_id}",
    dependencies=WRITE,
    summary="Change some of a rep's fields (active, out_of_office, capacity, weight, ...)",
)
async def patch_rep(rep_id: str, request: Request) -> dict[str, Any]:
    return await _put(request, REP, rep_id, merge=True)


@router.delete("/reps/{rep_id}", status_code=204, dependencies=[ADMIN], summary="Remove a rep")
async def delete_rep(rep_id: str, request: Request) -> None:
    await _delete(request, REP, rep_id)


@router.get("/pools", summary="Every pool")
async def list_pools(request: Request, key: Admin) -> dict[str, list[dict[str, Any]]]:
    async with request.app.state.runtime.engine.connect() as conn:
        return {"pools": await _entries(conn, POOL)}


@router.get("/pools/{name}", summary="One pool")
async def get_pool(name: str, request: Request, key: Admin) -> dict[str, Any]:
    return await _get(request, POOL, name)


@router.put(
    "/pools/{name}",
    dependencies=WRITE,
    openapi_extra=body_schema(PoolSpec),
    summary="Add or replace a pool",
)
async def put_pool(name: str, request: Request) -> dict[str, Any]:
    return await _put(request, POOL, name)


@router.delete("/pools/{name}", status_code=204, dependencies=[ADMIN], summary="Remove a pool")
async def delete_pool(name: str, request: Request) -> None:
    await _delete(request, POOL, name)


@router.get("/accounts", summary="Every account")
async def list_accounts(request: Request, key: Admin) -> dict[str, list[dict[str, Any]]]:
    async with request.app.state.runtime.engine.connect() as conn:
        return {"accounts": await _entries(conn, ACCOUNT)}


@router.get("/accounts/{domain}", summary="One account")
async def get_account(domain: str, request: Request, key: Admin) -> dict[str, Any]:
    return await _get(request, ACCOUNT, domain.lower())


@router.put(
    "/accounts/{domain}",
    dependencies=WRITE,
    openapi_extra=body_schema(AccountSpec),
    summary="Add or replace an account",
)
async def put_account(domain: str, request: Request) -> dict[str, Any]:
    return await _put(request, ACCOUNT, domain.lower())


@router.delete(
    "/accounts/{domain}", status_code=204, dependencies=[ADMIN], summary="Remove an account"
)
async def delete_account(domain: str, request: Request) -> None:
    await _delete(request, ACCOUNT, domain.lower())
