"""Who can take leads: reps, the pools they sit in, and round-robin choice within a pool."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

ROUND_ROBIN = "round_robin"


@dataclass(frozen=True, slots=True)
class Rep:
    """A sales rep as sales ops describe them; `active` False keeps them out of new assignments."""

    id: str
    name: str
    email: str
    team: str
    active: bool = True
    manager: str | None = None
    timezone: str | None = None


@dataclass(frozen=True, slots=True)
class Pool:
    """An ordered group of reps that share incoming leads."""

    name: str
    members: tuple[str, ...]
    strategy: str = ROUND_ROBIN


@dataclass(frozen=True, slots=True)
class Roster:
    """The whole team: reps by id, pools by name, and where leads go when no other rule matches."""

    reps: Mapping[str, Rep]
    pools: Mapping[str, Pool]
    default_pool: str

    def pools_in_use(self) -> tuple[str, ...]:
        """The pools a decision can draw from; their pointers are locked once per batch."""
        return (self.default_pool,)


@dataclass(frozen=True, slots=True)
class Candidate:
    """A rep looked at while deciding; `skipped` says why they were passed over (None: chosen)."""

    rep_id: str
    skipped: str | None = None


def choose(
    pool: Pool, reps: Mapping[str, Rep], position: int
) -> tuple[Rep | None, int, tuple[Candidate, ...]]:
    """The next active rep from `position` on, the position after them, and who was looked at.

    When nobody is available the position stays where it was, so the rotation resumes
    with the same rep once someone returns.
    """
    size = len(pool.members)
    if size == 0:
        return None, position, ()
    looked_at: list[Candidate] = []
    for step in range(size):
        index = (position + step) % size
        rep_id = pool.members[index]
        rep = reps.get(rep_id)
        if rep is None:
            looked_at.append(Candidate(rep_id, "not on the roster"))
        elif not rep.active:
            looked_at.append(Candidate(rep_id, "inactive"))
        else:
            looked_at.append(Candidate(rep_id))
            return rep, (index + 1) % size, tuple(looked_at)
    return None, position % size, tuple(looked_at)
