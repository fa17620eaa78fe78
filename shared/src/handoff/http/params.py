"""Path and query parameters checked once for every route: no NUL, no lone surrogate, bounded length.

A NUL in `/v1/leads/%00/score` reached PostgreSQL, which refuses it in text, and every by-id
route answered 500. Installed as an app-wide dependency, this answers 422 naming the parameter
before any route (or its authentication) runs.
"""

from __future__ import annotations

from fastapi import Request

from handoff.http.problem import Problem
from handoff.http.values import text_problem

MAX_PARAMETER_CHARS = 1024  # far above any id, key or domain; keeps index rows small


async def clean_parameters(request: Request) -> None:
    """A FastAPI dependency: 422 naming each path or query parameter that cannot be stored.
    Async although it never awaits, so FastAPI calls it on the loop, not in its thread pool."""
    found: list[tuple[str, str, str]] = []  # (parameter, path or query, what is wrong)
    values = [(n, v, "path") for n, v in request.path_params.items()]
    values += [(n, v, "query") for n, v in request.query_params.multi_items()]
    for name, value, where in values:
        if not isinstance(value, str):
            continue
        problem = text_problem(value) or text_problem(name)
        if problem is None and len(value) > MAX_PARAMETER_CHARS:
            problem = f"is longer than {MAX_PARAMETER_CHARS} characters"
        if problem is not None:
            found.append((_label(name), where, problem))
    if found:
        name, where, problem = found[0]
        raise Problem(
            422,
            f"The {where} parameter {name!r} {problem}.",
            errors=[{"field": n, "message": f"{w} parameter {p}"} for n, w, p in found],
        )


def _label(name: str) -> str:
    # A query parameter's name is the caller's own text: echo it only when it is plain.
    return name if text_problem(name) is None and len(name) <= 100 else "(unnamed)"
