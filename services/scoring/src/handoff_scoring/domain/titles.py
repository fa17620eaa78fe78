"""Seniority from a job title, in English and Japanese, for fit rules and disqualifiers."""

from __future__ import annotations

import re
from functools import lru_cache

# Checked in this order: the first level whose pattern appears in the title wins, so
# "Vice President" is vp (not president) and "部長代理" is manager (a deputy), not director.
LEVELS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("student", re.compile(r"\bstudent\b|\bintern\b|学生|インターン", re.IGNORECASE)),
    (
        "manager",
        re.compile(
            r"部長代理|次長|課長|係長|主任|マネージャ|\bmanager\b|\bteam lead\b", re.IGNORECASE
        ),
    ),
    ("vp", re.compile(r"\bvp\b|vice[ -]president|本部長|事業部長|執行役員", re.IGNORECASE)),
    (
        "executive",
        re.compile(
            r"\bc[a-z]?o\b|\bchief\b|\bpresident\b|\bfounder\b|\bowner\b|\bmanaging director\b"
            r"|取締役|社長|代表|会長|役員|専務|常務",
            re.IGNORECASE,
        ),
    ),
    ("director", re.compile(r"\bdirector\b|\bhead of\b|部長|室長|所長", re.IGNORECASE)),
)
SENIORITIES = frozenset({"executive", "vp", "director", "manager", "individual", "student"})


@lru_cache(maxsize=8192)  # titles repeat a lot ("CTO", "部長"); the patterns are costly
def seniority(title: str | None) -> str | None:
    """executive, vp, director, manager, student or individual; None when there is no title."""
    if not title or not title.strip():
        return None
    for level, pattern in LEVELS:
        if pattern.search(title):
            return level
    return "individual"
