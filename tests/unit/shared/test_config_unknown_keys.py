"""A misspelt key in any service's YAML file is named as the unknown key, with its file, line
and the key it most likely meant, not reported as the key it left missing."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from handoff.config_file import ConfigError
from handoff_ingress.config import load_ingress
from handoff_routing.config import load_config
from handoff_scoring.config import load_model
from handoff_sla_watch.config import load_policies

REPO = Path(__file__).resolve().parents[3]

# (shipped file, its loader, the line as written, the same line misspelt, key, suggestion)
TYPOS: list[tuple[str, Callable[[Path], Any], str, str, str, str]] = [
    ("scoring.yaml", load_model, "threshold: 60", "threshhold: 60", "threshhold", "threshold"),
    (
        "scoring.yaml",
        load_model,
        "  half_life: 30d",
        "  halflife: 30d",
        "decay.halflife",
        "half_life",
    ),
    (
        "routing.yaml",
        load_config,
        "default_pool: inside-sales",
        "defualt_pool: inside-sales",
        "defualt_pool",
        "default_pool",
    ),
    ("sla.yaml", load_policies, "    within: 1h", "    witihn: 1h", "policies[0].witihn", "within"),
    (
        "ingress.yaml",
        lambda p: load_ingress(p, {}),
        "tolerance_seconds: 300",
        "tolerence_seconds: 300",
        "tolerence_seconds",
        "tolerance_seconds",
    ),
]


@pytest.mark.parametrize(("name", "load", "right", "wrong", "key", "meant"), TYPOS)
def test_a_misspelt_key_is_named_with_its_line_and_the_key_it_meant(
    tmp_path: Path,
    name: str,
    load: Callable[[Path], Any],
    right: str,
    wrong: str,
    key: str,
    meant: str,
) -> None:
    shipped = (REPO / "config" / name).read_text(encoding="utf-8")
    pattern = re.compile(rf"^{re.escape(right)}\b", re.M)
    found = pattern.search(shipped)
    assert found is not None, f"{right!r} is no longer in config/{name}"
    line = shipped.count("\n", 0, found.start()) + 1
    path = tmp_path / name
    path.write_text(pattern.sub(wrong, shipped, count=1), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load(path)
    err = caught.value
    assert (err.path, err.line, err.key) == (path, line, key)
    assert err.message == f"unknown key; did you mean {meant!r}?"
    assert str(err).startswith(f"{path}:{line}: {key}: unknown key")


def test_an_unknown_key_like_no_other_lists_the_keys_allowed_there(tmp_path: Path) -> None:
    path = tmp_path / "scoring.yaml"
    path.write_text("model_version: v1\nthreshold: 50\nbehaviour: []\ncolour: blue\n")
    with pytest.raises(ConfigError) as caught:
        load_model(path)
    err = caught.value
    assert (err.line, err.key) == (4, "colour")
    assert err.message.startswith("unknown key; expected one of model_version, threshold, ")
