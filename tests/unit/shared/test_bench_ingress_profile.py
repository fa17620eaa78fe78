"""bench.ingress_profile sorts each py-spy sample under the innermost frame that names a cost."""

from __future__ import annotations

from pathlib import Path

from bench.ingress_profile import shares


def test_each_sample_counts_once_for_its_innermost_cost(tmp_path: Path) -> None:
    raw = tmp_path / "raw.txt"
    raw.write_text(
        "run (uvicorn/server.py:1);serve (handoff_ingress/entrypoints/lean_webhooks.py:9);"
        "verify (handoff_ingress/domain/providers/standard.py:60);new (hmac.py:167) 3\n"
        "run (uvicorn/server.py:1);__call__ (fastapi/applications.py:1) 1\n"
        "_run_once (asyncio/base_events.py:1) 1\n"
        "send (uvicorn/protocols/http/httptools_impl.py:524) 5\n"
    )
    assert shares(raw) == [
        ("uvicorn and httptools", 0.5),
        ("signature and rate limit", 0.3),
        ("FastAPI/Starlette", 0.1),
        ("event loop and the rest", 0.1),
    ]
