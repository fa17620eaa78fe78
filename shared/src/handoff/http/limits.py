"""Request guards: a body size limit (also for chunked bodies) and JSON-only routes (415)."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from handoff.http.problem import Problem, problem_response


class BodyLimit:
    """413 as problem+json when a body passes `max_bytes`, declared or chunked.

    FastAPI's own `max_body_size` answers a declared Content-Length in plain text
    from outside the app's middleware, so the limit lives here: a declared length is
    refused before reading, and a streamed body is counted as it arrives. Raising an
    HTTPException from `receive` is what FastAPI passes through to our handlers.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

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

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
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
