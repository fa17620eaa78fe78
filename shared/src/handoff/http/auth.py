"""Bearer API keys with scopes. Keys are stored as SHA-256 hashes; the secret is shown once."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Iterable

from fastapi import Request

from handoff.http.problem import Problem
from handoff.settings import ApiKeyRecord

SCOPES = ("signals:write", "handoffs:write", "admin", "read")


def new_api_key(key_id: str, scopes: Iterable[str]) -> tuple[str, ApiKeyRecord]:
    """A fresh key: the secret to hand to the user once, and the record to store."""
    secret = f"hk_{key_id}_{secrets.token_urlsafe(32)}"
    return secret, ApiKeyRecord(
        id=key_id, sha256=ApiKeyRecord.hash_secret(secret), scopes=list(scopes)
    )


class KeyRing:
    def __init__(self, records: Iterable[ApiKeyRecord]) -> None:
        self._by_hash = {r.sha256: r for r in records}

    def find(self, secret: str) -> ApiKeyRecord | None:
        # Looking up by hash compares hashes, not secrets, so timing reveals nothing of the key.
        return self._by_hash.get(ApiKeyRecord.hash_secret(secret))


_UNAUTHORIZED = Problem(
    401,
    "Missing or invalid credentials.",
    headers={"WWW-Authenticate": 'Bearer realm="handoff"'},
)


def require_scope(scope: str) -> Callable[[Request], Awaitable[ApiKeyRecord]]:
    """A FastAPI dependency: the caller's key, which must carry `scope` (or admin). Async
    although it never awaits: FastAPI runs a plain function in its thread pool, two thread
    hops per request for a dictionary lookup."""
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}")

    async def dependency(request: Request) -> ApiKeyRecord:
        header = request.headers.get("authorization", "")
        kind, _, secret = header.partition(" ")
        if kind.lower() != "bearer" or not secret:
            raise _UNAUTHORIZED
        keyring: KeyRing = request.app.state.keyring
        record = keyring.find(secret.strip())
        if record is None:
            raise _UNAUTHORIZED
        if scope not in record.scopes and "admin" not in record.scopes:
            raise Problem(403, f"This key lacks the scope '{scope}'.")
        return record

    return dependency
