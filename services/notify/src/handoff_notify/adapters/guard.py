"""The outbound HTTP client that cannot be talked into reaching a private address.

Every connection resolves the host itself, refuses it if any answer is private, loopback
or link-local (unless the operator allowed that network), and then connects to the very
address it checked, so a second DNS answer cannot swap in another (DNS rebinding). TLS
still verifies the certificate against the host name. Redirects are never followed and
proxies from the environment are ignored.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

import httpcore
import httpx

from handoff_notify.domain.addresses import (
    IPAddress,
    IPNetwork,
    UnsafeAddress,
    first_refusal,
    literal_ip,
)

Resolver = Callable[[str, int], Awaitable[list[IPAddress]]]


async def system_resolver(host: str, port: int) -> list[IPAddress]:
    """Every address the system resolver gives for `host`."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    found: list[IPAddress] = []
    for *_, sockaddr in infos:
        ip = literal_ip(str(sockaddr[0]))
        if ip is not None and ip not in found:
            found.append(ip)
    return found


async def checked_addresses(
    host: str, port: int, allowed: Sequence[IPNetwork], resolve: Resolver = system_resolver
) -> list[IPAddress]:
    """The addresses of `host`, all of them acceptable, or UnsafeAddress saying why not."""
    ip = literal_ip(host)
    try:
        addresses = [ip] if ip is not None else await resolve(host, port)
    except OSError as exc:
        raise UnsafeAddress(f"{host} does not resolve: {exc.strerror or exc}") from None
    if not addresses:
        raise UnsafeAddress(f"{host} does not resolve")
    reason = first_refusal(addresses, allowed)
    if reason is not None:
        shown = reason if ip is not None else f"{host} resolves to a refused address: {reason}"
        raise UnsafeAddress(shown)
    return addresses


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend, with the address check between resolving and connecting."""

    def __init__(self, allowed: Sequence[IPNetwork], resolve: Resolver) -> None:
        self.allowed, self.resolve = tuple(allowed), resolve
        self.inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's signature
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await checked_addresses(host, port, self.allowed, self.resolve)
        return await self.inner.connect_tcp(
            str(addresses[0]), port, timeout, local_address, socket_options
        )

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's signature
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise UnsafeAddress("unix sockets are not an outbound destination")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport over a connection pool that uses GuardedBackend.

    httpx takes no network backend, so the pool it built is replaced by an equal one that
    does (tests/unit/notify/test_notify_ssrf.py proves the check runs on every connection).
    """

    def __init__(
        self, allowed: Sequence[IPNetwork], resolve: Resolver, max_connections: int
    ) -> None:
        super().__init__(retries=0, trust_env=False)
        ssl_context = self._pool._ssl_context
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context,
            max_connections=max_connections,
            max_keepalive_connections=max_connections,
            keepalive_expiry=30.0,
            network_backend=GuardedBackend(allowed, resolve),
        )


def guarded_client(
    allowed: Sequence[IPNetwork],
    timeout_seconds: float,
    *,
    resolve: Resolver = system_resolver,
    max_connections: int = 200,
) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=GuardedTransport(allowed, resolve, max_connections),
        timeout=httpx.Timeout(timeout_seconds),
        follow_redirects=False,
        trust_env=False,
        headers={"user-agent": "handoff-notify/1"},
    )
