"""deploy/prometheus/alerts.yaml is valid and its unit tests pass (promtool from Debian's
prometheus package, installed by `make test-tools`); the Grafana dashboard reads real metrics."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from handoff_insight.adapters import metrics as insight_metrics

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool missing: `make test-tools` installs Debian's prometheus"
)


@needs_promtool
def test_the_alert_rules_check() -> None:
    run = subprocess.run(
        [str(PROMTOOL), "check", "rules", "alerts.yaml"],
        cwd=DEPLOY / "prometheus",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stdout + run.stderr


@needs_promtool
def test_the_alert_rules_unit_tests_pass() -> None:
    run = subprocess.run(
        [str(PROMTOOL), "test", "rules", "alerts.test.yaml"],
        cwd=DEPLOY / "prometheus",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stdout + run.stderr


def test_the_grafana_dashboard_queries_only_metrics_that_exist() -> None:
    board = json.loads((DEPLOY / "grafana" / "handoff-funnel.json").read_text())
    exprs = [t["expr"] for p in board["panels"] for t in p.get("targets", [])]
    assert exprs
    named = {m for e in exprs for m in re.findall(r"\b(handoff_[a-z_]+?)(?:_bucket)?\b", e)}
    ours = {g._name for g in insight_metrics.ALL} | {
        "handoff_events_consumed",
        "handoff_dead_letters",
        "handoff_batch_seconds",
        "handoff_outbox_lag_seconds",
        "handoff_consumer_running",
        "handoff_sla_breaches",
    }
    assert {n.removesuffix("_total") for n in named} <= ours
