"""Schemathesis over the ingress service's OpenAPI, against the running process: never a 5xx."""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.core.result import Ok

from tests.e2e.conftest import System

EXAMPLES_PER_OPERATION = 8  # bounded: the whole run takes a few seconds


def test_no_input_makes_the_ingress_service_answer_5xx(system: System) -> None:
    url = system.ingress.url
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), f"the schema has an invalid operation: {result.err()}"
        operation = result.ok()
        operations += 1

        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def run(case: schemathesis.Case[Any]) -> None:
            response = case.call(base_url=url, headers=system.headers, timeout=15)
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path}: {response.status_code}")

        run()
    assert operations >= 5  # healthz, readyz, metrics, signals, webhooks
    assert failures == []
