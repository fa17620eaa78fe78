"""Read config/scoring.yaml into the domain's ScoringModel; mistakes name file, line and key."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from handoff.config_file import load_yaml
from handoff_scoring.domain.model import ScoringModel


class ScoringFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model_version: str = Field(min_length=1)
    threshold: int = Field(gt=0)
    points: dict[str, int] = Field(min_length=1)
    default_points: int = 0


def load_model(path: Path) -> ScoringModel:
    parsed = load_yaml(path, ScoringFile)
    return ScoringModel(
        version=parsed.model_version,
        threshold=parsed.threshold,
        points=dict(parsed.points),
        default_points=parsed.default_points,
    )
