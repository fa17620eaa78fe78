"""Bad input over every route of every service, against the running processes: schemathesis
(valid and negative data) plus hand-written cases (NUL in every path parameter and string,
10k-character ids, invalid UTF-8, nesting 5,000 deep, years 1 and 9999, numbers beyond 64 bits,
chunked bodies over the limit, bodies shorter than their Content-Length). Then a good lead must
still go from signals to an MQL and an assignment: 0 answers 5xx, 0 hangs, 0 consumer stalls."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from handoff_ingress.domain.providers import standard
from tests.e2e.conftest import BODY_READ_TIMEOUT_SECONDS, System
from tests.factories import new_id
from tests.ingress_senders import JSON, STANDARD_SECRET, standard_request
from tests.integration.kafka_helpers import eventually

EXAMPLES = 10  # per operation and mode: the whole sweep stays near a minute
STATEFUL_EXAMPLES = 10  # sequences of up to 5 calls per service
CLIENT_TIMEOUT = 15.0  # an answer slower than this counts as a hang
DEEP = b"[" * 5000 + b"]" * 5000
PARAM = re.compile(r"\{([^}]+)\}")


class Findings:
    """Every 5xx and every hang, by request; the test asserts both lists stay empty."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.hangs: list[str] = []
        self.requests = 0

    def check(self, what: str, resp: Any) -> None:
        self.requests += 1
        if resp.status_code >= 500 and not _ready_probe(what, resp):
            self.errors.append(f"{what}: {resp.status_code} {resp.text[:200]}")

    def hung(self, what: str) -> None:
        self.requests += 1
        self.hangs.append(what)


def _ready_probe(what: str, resp: Any) -> bool:
    # /readyz answers 503 by design while a dependency is down; that is not an error.
    return "/readyz" in what and resp.status_code == 503


def services(system: System) -> dict[str, str]:
    return {
        "ingress": system.ingress.url,
        "scoring": system.scoring.url,
        "routing": system.routing.url,
        "sla": system.sla.url,
    }


@pytest.fixture(scope="module")
def findings() -> Findings:
    return Findings()


@pytest.fixture(scope="module")
def operations(system: System) -> dict[str, list[tuple[str, str]]]:
    """(method, path template) of every operation, per service, from its own OpenAPI."""
    found: dict[str, list[tuple[str, str]]] = {}
    for name, url in services(system).items():
        spec = httpx.get(f"{url}/openapi.json", timeout=CLIENT_TIMEOUT).json()
        found[name] = [
            (method.upper(), path)
            for path, item in spec["paths"].items()
            for method in item
            if method in {"get", "post", "put", "patch", "delete"}
        ]
    return found


@pytest.fixture
async def client(system: System) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(headers=system.headers, timeout=CLIENT_TIMEOUT) as c:
        yield c


@pytest.mark.parametrize("service", ["ingress", "scoring", "routing", "sla"])
def test_schemathesis_valid_and_negative_data_never_get_a_5xx(
    system: System, findings: Findings, service: str
) -> None:
    url = services(system)[service]
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    before = findings.requests
    for result in schema.get_all_operations():
        operation = result.ok()  # type: ignore[union-attr]
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            # Unsatisfiable: nothing to make invalid (no parameters, no body); the valid run covers it.
            with contextlib.suppress(Unsatisfiable):
                _sweep(operation, mode, url, system.headers, findings, service)
    assert findings.requests - before >= 20  # the sweep really ran
    assert findings.errors == [] and findings.hangs == []


def _sweep(
    operation: Any,
    mode: GenerationMode,
    url: str,
    headers: dict[str, str],
    findings: Findings,
    service: str,
) -> None:
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        what = f"{service} {case.method} {case.formatted_path} ({mode.value})"
        try:
            resp = case.call(base_url=url, headers=headers, timeout=CLIENT_TIMEOUT)
        except Exception as exc:  # a timeout or a dropped connection: a hang
            findings.hung(f"{what}: {type(exc).__name__}")
            return
        findings.check(what, resp)

    run()


def test_schemathesis_stateful_sequences_never_get_a_5xx(
    system: System, findings: Findings
) -> None:
    """Sequences along the links schemathesis infers (an id one answer returns, used by the
    next call: a rep or pool put, then read, patched, deleted), so bad input also meets
    existing state. Only routing's roster has such links; scoring's and sla-watch's routes
    return no id another route takes (schemathesis finds no links there)."""
    service, url = "routing", system.routing.url
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    schema.config.update(base_url=url)
    before = findings.requests
    machine = schema.as_state_machine()

    class Sweep(machine):  # type: ignore[misc,valid-type]
        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"headers": system.headers, "timeout": CLIENT_TIMEOUT}

        def call(self, case: Any, **kwargs: Any) -> Any:
            what = f"{service} {case.method} {case.formatted_path} (stateful)"
            try:
                resp = case.call(**kwargs)
            except Exception as exc:
                findings.hung(f"{what}: {type(exc).__name__}")
                raise
            findings.check(what, resp)
            return resp

        def validate_response(self, response: Any, case: Any, **kw: Any) -> None:
            return None  # only 5xx and hangs count here, gathered in `findings`

    Sweep.run(
        settings=settings(
            max_examples=STATEFUL_EXAMPLES,
            stateful_step_count=5,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
    )
    assert findings.requests > before
    assert findings.errors == [] and findings.hangs == []


def _fill(path: str, value: str) -> str:
    return PARAM.sub(value, path)


async def _send(
    client: httpx.AsyncClient, findings: Findings, method: str, url: str, **kw: Any
) -> httpx.Response | None:
    what = f"{method} {url[:120]}"
    try:
        resp = await client.request(method, url, **kw)
    except httpx.TimeoutException:
        findings.hung(what)
        return None
    findings.check(what, resp)
    return resp


async def test_nul_and_10k_ids_in_every_path_parameter_are_4xx(
    system: System,
    client: httpx.AsyncClient,
    findings: Findings,
    operations: dict[str, list[tuple[str, str]]],
) -> None:
    by_id = 0
    for name, url in services(system).items():
        for method, path in operations[name]:
            if "{" not in path:
                continue
            by_id += 1
            body = {"rep_id": "r\u0000"} if method != "GET" else None
            for value in ("%00", "a%00b", "x" * 10_000, "%FF%FE", "%ED%A0%80"):
                resp = await _send(client, findings, method, url + _fill(path, value), json=body)
                assert resp is None or resp.status_code < 500
            nul = await client.request(method, url + _fill(path, "%00"), json=body)
            assert nul.status_code == 422 and nul.json()["errors"][0]["field"] in path
    assert by_id >= 10
    assert findings.errors == [] and findings.hangs == []


async def test_bad_bodies_on_every_body_route_are_4xx(
    system: System,
    client: httpx.AsyncClient,
    findings: Findings,
    operations: dict[str, list[tuple[str, str]]],
) -> None:
    good = {"id": "e", "lead_id": "L", "type": "page_view", "occurred_at": "2026-11-21T10:00:00Z"}
    bodies: list[bytes] = [
        DEEP,
        b'{"a":' * 5000 + b"1" + b"}" * 5000,
        b'{"rep_id": "r-\xff\xfe"}',
        b'{"rep_id": "\\ud800"}',
        json.dumps({"rep_id": "r\u0000", "note": "\u0000", "name": "\u0000"}).encode(),
        json.dumps({"rep_id": "r", "recycle_after_days": 2**70, "outcome": "recycle"}).encode(),
        json.dumps(good | {"lead_id": "L\u0000"}).encode(),
        json.dumps(good | {"id": "e" * 10_000}).encode(),
        json.dumps(good | {"occurred_at": "0001-01-01T00:00:00+14:00"}).encode(),
        json.dumps(good | {"occurred_at": "9999-12-31T23:59:59-14:00"}).encode(),
        json.dumps(good | {"occurred_at": "9999-12-31T23:59:59Z"}).encode(),
        json.dumps(good | {"properties": {"n": 2**64, "m": -(2**80)}}).encode(),
        json.dumps(good | {"traits": {"company": {"size": 2**70}}}).encode(),
        json.dumps(good | {"properties": {"blob": "x" * 1_500_000}}).encode(),
        b"NaN",
        b"",
    ]
    routes = 0
    for name, url in services(system).items():
        for method, path in operations[name]:
            if method not in {"POST", "PUT", "PATCH"}:
                continue
            routes += 1
            target = url + _fill(path, "x-1")
            for body in bodies:
                resp = await _send(client, findings, method, target, content=body, headers=JSON)
                assert resp is None or resp.status_code < 500
    assert routes >= 8
    assert findings.errors == [] and findings.hangs == []


async def test_signed_webhooks_with_bad_bodies_are_4xx(
    system: System, client: httpx.AsyncClient, findings: Findings
) -> None:
    url = f"{system.ingress.url}/v1/webhooks/standard"
    bad: list[Any] = [
        {"id": "e\u0000", "lead_id": "L", "type": "page_view", "occurred_at": "2026-11-21T10:00:00Z"},
        {"id": "e", "lead_id": "L", "type": "page_view", "occurred_at": "0001-01-01T00:00:00+14:00"},
        {"id": "e", "lead_id": "L", "type": "page_view", "occurred_at": "2026-11-21T10:00:00Z",
         "properties": {"n": 2**65}},
    ]  # fmt: skip
    for payload in bad:
        body, headers = standard_request(payload)
        resp = await _send(client, findings, "POST", url, content=body, headers=headers)
        assert resp is not None and resp.status_code == 422
    _, headers = standard_request([])
    key = standard.decode_secret(STANDARD_SECRET)
    stamp = headers["webhook-timestamp"]
    headers["webhook-signature"] = standard.sign(key, headers["webhook-id"], stamp, DEEP)
    resp = await _send(client, findings, "POST", url, content=DEEP, headers=headers)
    assert resp is not None and resp.status_code == 422
    assert findings.errors == [] and findings.hangs == []


async def test_chunked_bodies_over_the_limit_are_413(
    system: System, client: httpx.AsyncClient, findings: Findings
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(40):
            yield b" " * 100_000  # 4 MB in all, no Content-Length

    for url in (
        f"{system.ingress.url}/v1/signals",
        f"{system.ingress.url}/v1/webhooks/standard",
        f"{system.routing.url}/v1/handoffs/h-1/accept",
    ):
        resp = await _send(client, findings, "POST", url, content=chunks(), headers=JSON)
        assert resp is not None and resp.status_code == 413, url
    assert findings.errors == [] and findings.hangs == []


async def _short_body(url: str, path: str, auth: str | None) -> tuple[bytes, float]:
    """Declare 1000 bytes, send 10, and wait: the answer, and how long it took."""
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    head = [
        f"POST {path} HTTP/1.1",
        f"Host: {parts.netloc}",
        "Content-Type: application/json",
        "Content-Length: 1000",
    ]
    if auth:
        head.append(f"Authorization: {auth}")
    started = time.monotonic()
    writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + b'{"a": "xx"')
    await writer.drain()
    try:
        answer = await asyncio.wait_for(reader.read(), BODY_READ_TIMEOUT_SECONDS + 10)
    finally:
        writer.close()
    return answer, time.monotonic() - started


async def test_a_body_shorter_than_its_content_length_gets_408_and_is_closed(
    system: System,
) -> None:
    auth = system.headers["Authorization"]
    cases = [
        (system.ingress.url, "/v1/signals", auth),
        (system.ingress.url, "/v1/webhooks/standard", None),  # unauthenticated
        (system.routing.url, "/v1/handoffs/h-1/accept", auth),
    ]
    answers = await asyncio.gather(*(_short_body(*c) for c in cases))
    for answer, took in answers:
        # reader.read() returns only when the server closed the connection.
        assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
        assert b"application/problem+json" in answer
        assert took < BODY_READ_TIMEOUT_SECONDS + 5


async def test_after_the_sweep_a_good_lead_still_reaches_mql_and_assignment(
    system: System, client: httpx.AsyncClient
) -> None:
    lead = new_id()
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    traits = {"title": "本部長", "company": {"name": "Sakura", "size": 300, "country": "JP"}}
    signals = [
        {"id": new_id("e"), "lead_id": lead, "type": "identify", "occurred_at": now, "traits": traits},
        {"id": new_id("e"), "lead_id": lead, "type": "pricing_page_view", "occurred_at": now},
        {"id": new_id("e"), "lead_id": lead, "type": "demo_request", "occurred_at": now},
    ]  # fmt: skip
    resp = await client.post(f"{system.ingress.url}/v1/signals", json={"signals": signals})
    assert resp.status_code == 202, resp.text

    async def assigned() -> bool:
        # A handoff row means routing consumed the MQL: neither consumer is stalled.
        found = await client.get(f"{system.routing.url}/v1/leads/{lead}/handoff")
        return found.status_code == 200

    assert await eventually(assigned, within=60)
    score = await client.get(f"{system.scoring.url}/v1/leads/{lead}/score")
    assert score.json()["mql"]["state"] == "mql"

    # Bad input against this real handoff changes nothing; then its rep can still accept it.
    handoff = (await client.get(f"{system.routing.url}/v1/leads/{lead}/handoff")).json()
    base = f"{system.routing.url}/v1/handoffs/{handoff['handoff_id']}"
    rep = handoff["rep_id"]
    bad = [
        {"rep_id": f"{rep}\u0000"},
        {"rep_id": rep, "reason_code": "bad_fit\u0000", "note": "x"},
        {"rep_id": rep, "channel": "phone\u0000"},
        {"rep_id": rep, "outcome": "recycle", "recycle_after_days": 2**70},
    ]
    for action, body in zip(("accept", "reject", "contact", "disposition"), bad, strict=True):
        resp = await client.post(f"{base}/{action}", json=body)
        assert resp.status_code == 422, (action, resp.text)
        deep = await client.post(f"{base}/{action}", content=DEEP, headers=JSON)
        assert deep.status_code == 422
    unchanged = (await client.get(f"{system.routing.url}/v1/leads/{lead}/handoff")).json()
    assert unchanged["state"] == handoff["state"]
    if rep is not None:
        accepted = await client.post(f"{base}/accept", json={"rep_id": rep})
        assert accepted.status_code == 200 and accepted.json()["state"] == "accepted"
