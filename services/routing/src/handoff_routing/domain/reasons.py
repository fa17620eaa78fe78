"""Why a rep rejects a lead: the shared taxonomy that tells marketing what to do next."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum


class FollowUp(StrEnum):
    """What happens to a rejected lead: another rep, back to marketing for a while, or out."""

    REASSIGN = "reassign"
    RECYCLE = "recycle"
    DISQUALIFY = "disqualify"


@dataclass(frozen=True, slots=True)
class ReasonCode:
    code: str
    label_en: str
    label_ja: str
    follow_up: FollowUp
    recycle_days: int | None = None


class ReasonCodes:
    """The configured reason codes, in the order sales ops listed them."""

    def __init__(self, codes: Iterable[ReasonCode]) -> None:
        self._by_code = {c.code: c for c in codes}

    def __contains__(self, code: object) -> bool:
        return code in self._by_code

    def __iter__(self) -> Iterator[ReasonCode]:
        return iter(self._by_code.values())

    def __len__(self) -> int:
        return len(self._by_code)

    def get(self, code: str) -> ReasonCode | None:
        return self._by_code.get(code)

    def known(self) -> tuple[str, ...]:
        return tuple(self._by_code)
