"""What the funnel routes share: the window and filter query parameters, and the window and
reason rows they answer with."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import Query
from pydantic import BaseModel, Field

from handoff.http.problem import Problem
from handoff_insight.service_layer.queries import WINDOWS, Window

WindowName = Literal["7d", "30d", "90d"]
MAX_DAYS = 400
# PostgreSQL text cannot hold NUL: refuse it here as bad input rather than fail in the query.
Text = Annotated[str | None, Query(max_length=200, pattern=r"^[^\x00]*$")]
LAST_DAY = date(9999, 12, 30)  # the window's end (the next midnight) must still be a date


class ReasonOut(BaseModel):
    code: str
    count: int
    share: float | None = Field(description="of the rejected MQLs")
    label_en: str
    label_ja: str


class WindowOut(BaseModel):
    name: str = Field(description="7d, 30d, 90d, or custom (from/to)")
    first_day: date
    last_day: date

    @classmethod
    def of(cls, window: Window) -> WindowOut:
        return cls(name=window.name, first_day=window.first, last_day=window.last)


def window_of(name: str | None, first: date | None, last: date | None, today: date) -> Window:
    """The rolling window named, 30d by default, or the custom one from `first` to `last`."""
    if first is None and last is None:
        return Window.rolling(name or "30d", today)
    if name is not None:
        raise Problem(
            422,
            "Give either window or from/to, not both.",
            errors=[
                {"field": "window", "message": f"not with from/to; one of {', '.join(WINDOWS)}"}
            ],
        )
    if first is None or last is None:
        missing = "from" if first is None else "to"
        raise Problem(
            422,
            f"A custom window needs both from and to; {missing} is missing.",
            errors=[{"field": missing, "message": "required with the other"}],
        )
    return Window("custom", first, _checked_end(first, last))


def _checked_end(first: date, last: date) -> date:
    if last > LAST_DAY:
        raise Problem(
            422,
            f"The window must end by {LAST_DAY}.",
            errors=[{"field": "to", "message": f"at most {LAST_DAY}"}],
        )
    if last < first:
        raise Problem(
            422,
            "The window ends before it starts.",
            errors=[{"field": "to", "message": "must not be before from"}],
        )
    if (last - first).days >= MAX_DAYS:
        raise Problem(
            422,
            f"A custom window spans at most {MAX_DAYS} days.",
            errors=[{"field": "to", "message": f"at most {MAX_DAYS} days after from"}],
        )
    return last


def filters_of(**given: str | None) -> dict[str, str]:
    """The filters given (source, campaign, pool, rep), empty ones left out."""
    return {k: v for k, v in given.items() if v}
