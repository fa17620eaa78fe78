"""notify refuses to send to private, loopback and link-local addresses, to names that
resolve to them, and does not follow redirects; no test traffic leaves loopback."""

from __future__ import annotations

import ipaddress

import pytest

from handoff_dev.receivers import Answer, WebhookReceiver
from handoff_notify.adapters.guard import checked_addresses, guarded_client
from handoff_notify.adapters.senders import Senders, Smtp
from handoff_notify.config import SubscriptionIn
from handoff_notify.domain.addresses import IPAddress, UnsafeAddress, check_url, networks, refusal

LOOPBACK = networks(["127.0.0.0/8"])


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("127.0.0.1", "loopback"),
        ("10.0.0.1", "private"),
        ("192.168.1.5", "private"),
        ("172.16.0.1", "private"),
        ("169.254.169.254", "link-local"),
        ("::1", "loopback"),
        ("fe80::1", "link-local"),
        ("fd00::1", "private"),
        ("::ffff:127.0.0.1", "loopback"),
        ("0.0.0.0", "not a public"),  # noqa: S104 - an address judged, not bound
    ],
)
def test_non_public_addresses_are_refused_with_the_reason(address: str, why: str) -> None:
    reason = refusal(ipaddress.ip_address(address))
    assert reason is not None and why in reason


def test_a_public_address_passes_and_an_allowed_network_lets_loopback_through() -> None:
    assert refusal(ipaddress.ip_address("93.184.216.34")) is None
    assert refusal(ipaddress.ip_address("127.0.0.1"), LOOPBACK) is None
    assert refusal(ipaddress.ip_address("10.0.0.1"), LOOPBACK) is not None


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/x",
        "http://user:pw@example.com/",
        "http:///nohost",
        "https://example.com/#frag",
    ],
)
def test_urls_of_the_wrong_shape_are_refused(url: str) -> None:
    with pytest.raises(UnsafeAddress):
        check_url(url)


async def _resolves_to(address: str) -> object:
    async def resolve(host: str, port: int) -> list[IPAddress]:
        return [ipaddress.ip_address(address)]

    return resolve


async def test_a_hostname_resolving_to_a_private_address_is_refused() -> None:
    resolve = await _resolves_to("10.1.2.3")
    with pytest.raises(
        UnsafeAddress,
        match=r"crm\.example\.test resolves to a refused address: 10\.1\.2\.3 is a private",
    ):
        await checked_addresses("crm.example.test", 443, (), resolve)  # type: ignore[arg-type]


async def test_the_real_resolver_refuses_localhost_by_name() -> None:
    with pytest.raises(UnsafeAddress, match="loopback"):
        await checked_addresses("localhost", 80, ())


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/hook",
        "http://10.0.0.1/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]:9/hook",
        "http://crm.example.test/hook",  # the fake resolver below answers 10.9.9.9
    ],
)
async def test_the_sender_refuses_before_connecting(url: str) -> None:
    async def resolve(host: str, port: int) -> list[IPAddress]:
        return [ipaddress.ip_address("10.9.9.9")]

    client = guarded_client((), 2.0, resolve=resolve)
    senders = Senders(client, Smtp("127.0.0.1", 25, "x@y"), 2.0, 100)
    try:
        attempt = await senders.send("webhook", url, (), "evt-1", b"{}")
    finally:
        await client.aclose()
    assert attempt.status is None
    assert attempt.error is not None and attempt.error.startswith("refused:")


async def test_a_redirect_is_not_followed() -> None:
    target = await WebhookReceiver().start()
    redirecting = await WebhookReceiver(
        behaviour=lambda _: Answer(302, headers={"location": target.url + "/internal"})
    ).start()
    client = guarded_client(LOOPBACK, 2.0)
    senders = Senders(client, Smtp("127.0.0.1", 25, "x@y"), 2.0, 100)
    try:
        attempt = await senders.send("webhook", redirecting.url, (), "evt-1", b"{}")
    finally:
        await client.aclose()
        await redirecting.stop()
        await target.stop()
    assert attempt.status == 302  # a failure, to be retried, never a hop elsewhere
    assert target.received == []
    assert len(redirecting.received) == 1


def test_a_subscription_to_a_private_address_is_invalid_unless_the_network_is_allowed() -> None:
    body = {"url": "http://10.0.0.1/hook", "events": ["handoff.lead.assigned"]}
    with pytest.raises(ValueError, match="url") as err:
        SubscriptionIn.model_validate(body, context={"allow_networks": ()})
    assert err.value.errors()[0]["loc"] == ("url",)  # type: ignore[attr-defined]
    allowed = networks(["10.0.0.0/8"])
    assert SubscriptionIn.model_validate(body, context={"allow_networks": allowed}).url
