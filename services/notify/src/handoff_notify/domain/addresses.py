"""Server-side request forgery rules: which URLs and addresses notify may send to.

Pure: the caller resolves the name; these functions judge the URL and every address it got.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class UnsafeAddress(ValueError):
    """A URL or address notify refuses to send to; the message says why in plain words."""


def check_url(url: str) -> tuple[str, int]:
    """The host and port of an acceptable URL, or UnsafeAddress naming the fault."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeAddress(f"not a valid URL: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise UnsafeAddress("must be an http or https URL")
    if not parts.hostname:
        raise UnsafeAddress("has no host")
    if parts.username is not None or parts.password is not None:
        raise UnsafeAddress("must not carry a user name or password; use the signing secret")
    if parts.fragment:
        raise UnsafeAddress("must not have a #fragment")
    return parts.hostname, port or (443 if parts.scheme == "https" else 80)


def literal_ip(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def refusal(address: IPAddress, allowed: Sequence[IPNetwork] = ()) -> str | None:
    """Why `address` is refused (None when it may be reached): private, loopback, link-local
    and other non-public ranges are refused unless the operator allowed their network."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    if any(address in net for net in allowed if net.version == address.version):
        return None
    if address.is_loopback:
        return f"{address} is a loopback address"
    if address.is_link_local:
        return f"{address} is a link-local address (cloud metadata lives there)"
    if address.is_multicast or address.is_reserved or address.is_unspecified:
        return f"{address} is not a public unicast address"
    if address.is_private:
        return f"{address} is a private address"
    if not address.is_global:
        return f"{address} is not a public address"
    return None


def first_refusal(addresses: Iterable[IPAddress], allowed: Sequence[IPNetwork] = ()) -> str | None:
    """Every address a name resolves to must pass: one private answer refuses the name."""
    for address in addresses:
        reason = refusal(address, allowed)
        if reason is not None:
            return reason
    return None


def networks(texts: Iterable[str]) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(t, strict=False) for t in texts)
