"""Business time: working hours per weekday in a time zone, minus holidays and company days off.

A duration in business time counts only the seconds that fall inside working hours.
Arithmetic is done on real elapsed seconds between instants built from local wall
times, so a working day that spans a DST change is as long as it really is, and a due
time is an exact UTC instant whatever the zone.
"""

from __future__ import annotations

from collections.abc import Container, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_SECONDS = 86_400
# A calendar with working hours finds them within a few weeks; ten years of holidays is absurd.
_SEARCH_DAYS = 3660


class NoWorkingTime(ValueError):
    """The calendar has no working time left in the searched span."""


@dataclass(frozen=True, slots=True)
class Shift:
    """Working time within one local day, as seconds since local midnight (end up to 24:00)."""

    start: int
    end: int

    def __post_init__(self) -> None:
        if not 0 <= self.start < self.end <= DAY_SECONDS:
            raise ValueError(f"a shift must start before it ends within one day: {self}")

    @classmethod
    def parse(cls, text: str) -> Shift:
        """'09:00-18:00' (24:00 may end a day)."""
        try:
            first, last = (part.strip() for part in text.split("-"))
            start, end = _seconds_of(first), _seconds_of(last)
        except ValueError:
            raise ValueError(f"{text!r} is not a shift; write it like 09:00-18:00") from None
        if not start < end:
            raise ValueError(f"{text!r} ends before it starts; a shift stays within one day")
        return cls(start, end)


def _seconds_of(text: str) -> int:
    hours, minutes = text.split(":")
    if len(hours) != 2 or len(minutes) != 2 or not (hours + minutes).isdigit():
        raise ValueError(text)
    h, m = int(hours), int(minutes)
    if not (0 <= m < 60 and (h < 24 or (h == 24 and m == 0))):
        raise ValueError(text)
    return h * 3600 + m * 60


@dataclass(frozen=True)
class BusinessCalendar:
    """When a team works: `hours[weekday]` (0 is Monday) in `zone`, except holidays and days off.

    `holidays` is any container of dates (the `holidays` package's country calendars are).
    """

    name: str
    zone: tzinfo
    hours: Mapping[int, tuple[Shift, ...]]
    holidays: Container[date] = field(default_factory=frozenset)
    days_off: frozenset[date] = frozenset()

    def __post_init__(self) -> None:
        if not any(self.hours.get(day) for day in range(7)):
            raise ValueError(f"calendar {self.name!r} has no working hours on any weekday")

    def works_on(self, day: date) -> bool:
        return bool(self.hours.get(day.weekday())) and not self._closed(day)

    def _closed(self, day: date) -> bool:
        return day in self.days_off or day in self.holidays

    def shifts_on(self, day: date) -> list[tuple[datetime, datetime]]:
        """The day's working intervals as UTC instants; empty on a holiday or a day off."""
        if self._closed(day):
            return []
        midnight = datetime.combine(day, time())
        out = []
        for shift in self.hours.get(day.weekday(), ()):
            start = self._instant(midnight + timedelta(seconds=shift.start))
            end = self._instant(midnight + timedelta(seconds=shift.end))
            if start < end:  # a shift swallowed by a DST gap is simply absent
                out.append((start, end))
        return out

    def _instant(self, local: datetime) -> datetime:
        # fold=0: an ambiguous wall time (DST ending) means its first occurrence.
        return local.replace(tzinfo=self.zone).astimezone(UTC)

    def _shifts_from(self, moment: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Working intervals that end after `moment`, in order, clipped to start at it."""
        day = moment.astimezone(self.zone).date() - timedelta(days=1)  # a shift may straddle UTC
        for _ in range(_SEARCH_DAYS):
            for start, end in self.shifts_on(day):
                if end > moment:
                    yield max(start, moment), end
            day += timedelta(days=1)
        raise NoWorkingTime(f"calendar {self.name!r} has no working time after {moment}")

    def add(self, start: datetime, duration: timedelta) -> datetime:
        """The instant when `duration` of business time has passed since `start`.

        A zero duration from outside working hours lands on the next opening.
        """
        remaining = duration
        for open_at, close_at in self._shifts_from(start):
            available = close_at - open_at
            if remaining <= available:
                return open_at + remaining
            remaining -= available
        raise AssertionError("unreachable")  # _shifts_from raises when it runs out

    def seconds_between(self, start: datetime, end: datetime) -> float:
        """Business seconds in [start, end]; zero when end is not after start."""
        if end <= start:
            return 0.0
        total = timedelta()
        for open_at, close_at in self._shifts_from(start):
            if open_at >= end:
                break
            total += min(close_at, end) - open_at
        return total.total_seconds()

    def is_working(self, moment: datetime) -> bool:
        """True when `moment` lies within a shift (its closing instant included)."""
        local_day = moment.astimezone(self.zone).date()
        return any(
            start <= moment <= end
            for day in (local_day - timedelta(days=1), local_day, local_day + timedelta(days=1))
            for start, end in self.shifts_on(day)
        )


class WallClock:
    """The calendar of a policy that names none: every second counts."""

    name = "wall-clock"

    def add(self, start: datetime, duration: timedelta) -> datetime:
        return start + duration

    def seconds_between(self, start: datetime, end: datetime) -> float:
        return max(0.0, (end - start).total_seconds())


Clock = BusinessCalendar | WallClock
WALL_CLOCK = WallClock()
