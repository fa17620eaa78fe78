"""Wakes the firer early when the consumer arms a timer due before the firer's nap ends."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta


class Alarm:
    """Shared by the consumer (which rings) and the firer (which naps); one per process.

    The consumer rings after its transaction commits, so the firer sees the new timer
    when it wakes. A ring is also kept as a hint, for a ring that lands while the firer
    is between looking for the next due time and starting its nap.
    """

    def __init__(self) -> None:
        self._rung = asyncio.Event()
        self._hint: datetime | None = None
        self._napping_until: datetime | None = None  # None while the firer is awake

    def ring_by(self, due_at: datetime) -> None:
        """Ask the firer to be awake at `due_at`."""
        if self._hint is None or due_at < self._hint:
            self._hint = due_at
        if self._napping_until is None or due_at < self._napping_until:
            self._rung.set()

    def take_hint(self) -> datetime | None:
        """The earliest due time rung since the last call; clears the ring."""
        hint, self._hint = self._hint, None
        self._rung.clear()
        return hint

    async def nap(self, seconds: float) -> None:
        """Sleep `seconds`, or less if rung for an earlier time meanwhile or before the nap."""
        seconds = max(0.0, seconds)
        self._napping_until = datetime.now(UTC) + timedelta(seconds=seconds)
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._rung.wait(), seconds)
        finally:
            self._napping_until = None
