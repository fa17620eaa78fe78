"""Request guards: body size limit answered as problem+json, and JSON-only routes (415)."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from handoff.http.problem import Problem, problem_response


class DeclaredBodyLimit:
    """413 as problem+json before reading when Content-Length already says too much.

    Bodies without Content-Length (chunked) are counted by FastAPI's own
    `max_body_size`, whose 413 our problem handlers render; this guard only makes
    the early answer the same problem document rather than Starlette's plain text.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            declared = dict(scope.get("headers", [])).get(b"content-length")
            if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
                response = problem_response(
                    413,
                    f"The request body is larger than {self.max_bytes} bytes.",
                    instance=scope.get("path"),
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def require_json(request: Request) -> None:
    """A dependency for JSON routes: anything but a JSON content type is 415."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/json" and not ctype.endswith("+json"):
        raise Problem(415, "Send the body as application/json.")


def retry_after(seconds: int) -> dict[str, Any]:
    return {"Retry-After": str(seconds)}
