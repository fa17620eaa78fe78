"""Request guards: a body size limit (also for chunked bodies), a body-read deadline (408) and
JSON-only routes (415)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from fastapi import Request
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from handoff.http.problem import Problem, problem_response


def body_too_slow(read_timeout: float) -> Problem:
    """The 408 for a body that did not all arrive in time; the rest may still come, so the
    connection is closed."""
    return Problem(
        408,
        f"The request body did not arrive within {read_timeout:g} seconds.",
        headers={"Connection": "close"},
    )


class BodyLimit:
    """413 as problem+json when a body passes `max_bytes`, declared or chunked; 408 when the
    whole body has not arrived within `read_timeout` seconds of the app asking for it.

    FastAPI's own `max_body_size` answers a declared Content-Length in plain text
    from outside the app's middleware, so the limit lives here: a declared length is
    refused before reading, and a streamed body is counted as it arrives. Raising an
    HTTPException from `receive` is what FastAPI passes through to our handlers.

    The deadline covers the whole body, not each chunk, so a sender trickling a byte at a
    time cannot hold a worker either. A Content-Length larger than the bytes sent used to
    hold the request open for ever (uvicorn has no body timeout); now it gets 408 and the
    connection is closed, since the rest of that body may still come.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, read_timeout: float = 10.0) -> None:
        self.app, self.max_bytes, self.read_timeout = app, max_bytes, read_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            response = problem_response(413, self.detail, instance=scope.get("path"))
            await response(scope, receive, send)
            return
        seen = 0
        complete = False
        deadline: float | None = None

        async def counting_receive() -> Message:
            nonlocal seen, complete, deadline
            if complete:  # after the body, receive waits for a disconnect: no deadline
                return await receive()
            if deadline is None:
                deadline = time.monotonic() + self.read_timeout
            try:
                async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
                    message = await receive()
            except TimeoutError:
                late = body_too_slow(self.read_timeout)
                raise HTTPException(late.status, late.detail, headers=late.headers) from None
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                complete = not message.get("more_body", False)
                if seen > self.max_bytes:
                    raise HTTPException(413, self.detail)
            return message

        await self.app(scope, counting_receive, send)

    @property
    def detail(self) -> str:
        return f"The request body is larger than {self.max_bytes} bytes."


def require_json(request: Request) -> None:
    """A dependency for JSON routes: anything but a JSON content type is 415."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/json" and not ctype.endswith("+json"):
        raise Problem(415, "Send the body as application/json.")


def retry_after(seconds: int) -> dict[str, Any]:
    return {"Retry-After": str(seconds)}
