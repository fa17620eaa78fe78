"""POST /v1/webhooks/{source} as a plain ASGI route in front of FastAPI: the same answers, less work.

A profile of one ingress worker under webhook load (bench/README.md, "ingress") put about 43%
of its Python time in FastAPI's routing, dependency solving (two sync dependencies, each a hop
through the thread pool) and middleware, against 3% in parsing and 1% in the signature. This
route takes the common request (POST, a configured source, a declared Content-Length within
the limits, no query string) straight to the same service-layer call FastAPI's route makes
(`webhooks.receive`), with the same problem+json answers, limits, metrics and logs.

IngressApp (app.py) asks this route first, in front of FastAPI's whole stack (FastAPI's own
OpenTelemetry check alone cost a webhook about 7 us). Anything else goes to FastAPI untouched,
before a byte of the body is read: an unknown source (404), a body declared too large or sent
chunked (413, counted as it arrives), a query string (checked by FastAPI's parameter guard),
other methods. So the rare answers come from one place, and FastAPI's route stays declared,
also for the OpenAPI document. Lean requests are not seen by FastAPI's OpenTelemetry bridge.
"""

from __future__ import annotations

import asyncio

import structlog
from starlette.datastructures import URL, State
from starlette.types import Receive, Scope, Send

from handoff.http.limits import body_too_slow
from handoff.http.problem import Problem, answer_problem, too_deep, unexpected
from handoff_ingress.config import Source
from handoff_ingress.entrypoints.deps import IngressDeps
from handoff_ingress.service_layer import webhooks
from handoff_ingress.service_layer.webhooks import WebhookAnswer, WebhookRequest, Webhooks

log = structlog.get_logger("handoff.http")  # the logger FastAPI's error handlers write to

PREFIX = "/v1/webhooks/"
_JSON = b"application/json"


class LeanWebhooks:
    """The lean route: `serve` answers a common webhook request, or returns False untouched."""

    def __init__(self, state: State, max_body_bytes: int, read_timeout: float) -> None:
        self.state = state  # the FastAPI app's: its lifespan puts the service's Deps there
        # The app-wide body limit (BodyLimit) and the source's own: a request within both is ours.
        self.max_body_bytes, self.read_timeout = max_body_bytes, read_timeout

    async def serve(self, scope: Scope, receive: Receive, send: Send) -> bool:
        """True when this route answered; False, having read nothing, when it is FastAPI's."""
        ours = self._ours(scope)
        if ours is None:
            return False
        hooks, source, headers = ours
        path: str = scope["path"]
        try:
            body = await self._body(receive)
        except TimeoutError:  # as BodyLimit answers
            await answer_problem(body_too_slow(self.read_timeout), path)(scope, receive, send)
            return True
        if body is None:  # the caller hung up mid-body: nothing accepted, nobody to answer
            log.info("http.client_disconnected", path=path)
            return True
        try:
            request = _request(scope, source.provider, headers, body)
            answer = await webhooks.receive(hooks, source, request)
        except Problem as exc:
            await answer_problem(exc, path)(scope, receive, send)
            return True
        except RecursionError:
            await answer_problem(too_deep(), path)(scope, receive, send)
            return True
        except Exception:  # never a traceback to the caller; the same 500 FastAPI's handler gives
            log.exception("http.unexpected_error", path=path)
            await answer_problem(unexpected(), path)(scope, receive, send)
            return True
        await _accepted(answer, send)
        return True

    def _ours(self, scope: Scope) -> tuple[Webhooks, Source, dict[str, str]] | None:
        """The webhooks, the source and the headers when the request is a common one."""
        if scope["type"] != "http" or scope["method"] != "POST" or scope.get("query_string"):
            return None
        path: str = scope["path"]
        if not path.startswith(PREFIX) or scope.get("root_path"):
            return None
        name = path[len(PREFIX) :]
        deps = getattr(self.state, "deps", None)
        if not name or "/" in name or not isinstance(deps, IngressDeps):
            return None
        src = deps.webhooks.config.sources.get(name)
        if src is None or not src.enabled:
            return None
        # Reversed, so a repeated header reads as its first copy, as Starlette's Headers does.
        headers = {
            k.decode("latin-1").lower(): v.decode("latin-1") for k, v in reversed(scope["headers"])
        }
        if "transfer-encoding" in headers:
            return None
        declared = headers.get("content-length", "")
        if not (declared.isascii() and declared.isdigit()):  # "²" is a digit to str.isdigit
            return None
        if int(declared) > min(self.max_body_bytes, src.max_body_bytes):
            return None
        return deps.webhooks, src, headers

    async def _body(self, receive: Receive) -> bytes | None:
        """The whole body within the read deadline; None when the client disconnected."""
        chunks: list[bytes] = []
        async with asyncio.timeout(self.read_timeout):
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return None
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _request(scope: Scope, provider: str, headers: dict[str, str], body: bytes) -> WebhookRequest:
    client = scope.get("client")
    return WebhookRequest(
        method="POST",
        # Only HubSpot signs the URL; building it costs more than the rest of the request head.
        url=str(URL(scope=scope)) if provider == "hubspot" else "",
        headers=headers,
        body=body,
        client=client[0] if client else "unknown",
    )


async def _accepted(answer: WebhookAnswer, send: Send) -> None:
    # Byte for byte what Starlette's JSONResponse sends for the same content (json.dumps with
    # compact separators), written out: the encoder cost more than the rest of the answer.
    body = (
        f'{{"accepted":{answer.accepted:d},"duplicate":{"true" if answer.duplicate else "false"},'
        f'"unmapped":{answer.unmapped:d}}}'
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": answer.status,
            "headers": [(b"content-length", b"%d" % len(body)), (b"content-type", _JSON)],
        }
    )
    await send({"type": "http.response.body", "body": body})
