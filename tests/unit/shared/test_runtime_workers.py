"""How many worker processes a service runs for its setting: a number as given, 0 per core."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from handoff.runtime import cgroup_cpus, worker_count
from handoff_ingress.settings import IngressSettings

pytestmark = pytest.mark.unit


def test_a_number_of_workers_is_taken_as_given() -> None:
    assert worker_count(3) == 3


def test_zero_means_one_worker_per_core_this_process_may_use(tmp_path: Path) -> None:
    unlimited = tmp_path / "cpu.max"
    unlimited.write_text("max 100000\n")
    assert worker_count(0, unlimited) == len(os.sched_getaffinity(0))
    assert worker_count(0, tmp_path / "no-cgroup-v2") == len(os.sched_getaffinity(0))


def test_zero_stays_within_a_containers_cpu_limit(tmp_path: Path) -> None:
    cpu_max = tmp_path / "cpu.max"
    cpu_max.write_text("100000 100000\n")  # one core
    assert worker_count(0, cpu_max) == 1
    cpu_max.write_text("150000 100000\n")  # a core and a half: two workers
    assert cgroup_cpus(cpu_max) == 2


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
