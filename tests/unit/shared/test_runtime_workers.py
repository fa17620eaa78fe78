"""How many worker processes a service runs for its setting: a number as given, 0 per core."""

from __future__ import annotations

import os

import pytest

from handoff.runtime import worker_count
from handoff_ingress.settings import IngressSettings

pytestmark = pytest.mark.unit


def test_a_number_of_workers_is_taken_as_given() -> None:
    assert worker_count(3) == 3


def test_zero_means_one_worker_per_core_this_process_may_use() -> None:
    assert worker_count(0) == len(os.sched_getaffinity(0))


def test_ingress_reads_its_workers_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HANDOFF_INGRESS_WORKERS", "4")
    assert IngressSettings().http_workers == 4
    monkeypatch.delenv("HANDOFF_INGRESS_WORKERS")
    assert IngressSettings().http_workers == 0


def test_a_negative_worker_count_is_refused_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HANDOFF_INGRESS_WORKERS", "-1")
    with pytest.raises(ValueError, match="HANDOFF_INGRESS_WORKERS"):
        IngressSettings()
