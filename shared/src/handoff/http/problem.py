"""RFC 9457 problem+json for every error a client can see; never a bare 500 for bad input."""

from __future__ import annotations

from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

PROBLEM_JSON = "application/problem+json"
log = structlog.get_logger("handoff.http")


class Problem(Exception):
    """Raise from a route to answer with a problem document."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        errors: Sequence[dict[str, str]] = (),
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
        title: str | None = None,
    ) -> None:
        super().__init__(detail)
        self.status, self.detail, self.errors = status, detail, list(errors)
        self.headers, self.extra, self.title = headers or {}, extra or {}, title


def too_deep() -> Problem:
    """A body nested deeper than a reader or validator can walk: the caller's input."""
    return Problem(
        422,
        "The body is nested too deeply.",
        errors=[{"field": "body", "message": "nested too deeply"}],
    )


def unexpected() -> Problem:
    """What a caller is told of our own fault: no traceback, only that it was logged."""
    return Problem(500, "Unexpected error; it has been logged.")


def problem_response(
    status: int,
    detail: str,
    *,
    errors: Sequence[dict[str, str]] = (),
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
    title: str | None = None,
    instance: str | None = None,
) -> JSONResponse:
    phrase = HTTPStatus(status).phrase
    body: dict[str, Any] = {
        "type": f"https://handoff.dev/problems/{phrase.lower().replace(' ', '-')}",
        "title": title or phrase,
        "status": status,
        "detail": detail,
    }
    if instance:
        body["instance"] = instance
    if errors:
        body["errors"] = list(errors)
    body.update(extra or {})
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_JSON)


def field_errors(raw: Sequence[Any]) -> list[dict[str, str]]:
    """pydantic error list -> [{field, message}], the field as a dotted path in the body."""
    out = []
    for err in raw:
        loc = [str(p) for p in err.get("loc", ())]
        if loc and loc[0] in {"body", "query", "path", "header"}:
            where = loc[0]
            loc = loc[1:]
        else:
            where = "body"
        loc = [p for p in loc if not p.startswith("function-")]
        field = ".".join(loc) or where
        message = err.get("msg", "invalid")
        inner = err.get("ctx", {}).get("error")
        if getattr(inner, "where", None) is not None and hasattr(inner, "problem"):
            # A BadValue deep inside a free-form value (properties, traits): name the spot.
            field = ".".join(p for p in (field, inner.where) if p)
            message = inner.problem
        if err.get("type") == "extra_forbidden":
            message = "unknown field"
        elif err.get("type") == "json_invalid":
            field, message = (
                "body",
                f"malformed JSON: {err.get('ctx', {}).get('error', 'cannot parse')}",
            )
        out.append({"field": field, "message": message})
    return out


def answer_problem(exc: Problem, instance: str) -> JSONResponse:
    """The problem+json answer to a raised Problem, about the request path `instance`."""
    return problem_response(
        exc.status,
        exc.detail,
        errors=exc.errors,
        headers=exc.headers,
        extra=exc.extra,
        title=exc.title,
        instance=instance,
    )


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return answer_problem(exc, request.url.path)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = field_errors(exc.errors())
        return problem_response(
            422,
            "The request is not valid: "
            + "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5]),
            errors=errors,
            instance=request.url.path,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
        return problem_response(
            exc.status_code, detail, headers=dict(exc.headers or {}), instance=request.url.path
        )

    @app.exception_handler(RecursionError)
    async def _too_deep(request: Request, exc: RecursionError) -> JSONResponse:
        # Whichever library met it first; the JSON readers of handoff stop at 200 levels.
        return answer_problem(too_deep(), request.url.path)

    @app.exception_handler(ClientDisconnect)
    async def _gone(request: Request, exc: ClientDisconnect) -> Response:
        # The caller hung up mid-body (a timeout, a shutdown): nothing was accepted, nobody
        # reads the answer, and it is not our fault, so no error log and no traceback.
        log.info("http.client_disconnected", path=request.url.path)
        return Response(status_code=499)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("http.unexpected_error", path=request.url.path)
        return answer_problem(unexpected(), request.url.path)
