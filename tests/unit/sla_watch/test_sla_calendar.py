"""Business time: due times land in working hours, skip weekends, holidays and days off, and DST."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import holidays
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from handoff_sla_watch.domain.calendar import WALL_CLOCK, BusinessCalendar, Shift

TOKYO = ZoneInfo("Asia/Tokyo")
NEW_YORK = ZoneInfo("America/New_York")
WEEKDAYS_9_TO_6 = {
    day: (Shift.parse("09:00-12:00"), Shift.parse("13:00-18:00")) for day in range(5)
}

tokyo = BusinessCalendar(
    "tokyo",
    TOKYO,
    WEEKDAYS_9_TO_6,
    holidays=holidays.country_holidays("JP"),
    days_off=frozenset({date(2026, 12, 29), date(2026, 12, 30), date(2026, 12, 31)}),
)
new_york = BusinessCalendar(
    "new-york", NEW_YORK, {day: (Shift.parse("09:00-17:00"),) for day in range(5)}
)


def jst(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=TOKYO)  # type: ignore[misc, arg-type]


def test_a_duration_within_the_morning_is_plain_addition() -> None:
    assert tokyo.add(jst(2026, 11, 24, 9, 30), timedelta(hours=1)) == jst(2026, 11, 24, 10, 30)


def test_the_lunch_hour_does_not_count() -> None:
    assert tokyo.add(jst(2026, 11, 24, 11, 0), timedelta(hours=2)) == jst(2026, 11, 24, 14, 0)


def test_a_friday_evening_assignment_is_due_on_monday() -> None:
    # Friday 2026-11-27, 17:00: one working hour left that day, then the weekend.
    assert tokyo.add(jst(2026, 11, 27, 17, 0), timedelta(hours=3)) == jst(2026, 11, 30, 11, 0)


def test_a_japanese_holiday_is_skipped() -> None:
    # Monday 2026-11-23 is Labour Thanksgiving Day: a Friday-evening lead waits until Tuesday.
    assert date(2026, 11, 23) in tokyo.holidays
    assert tokyo.add(jst(2026, 11, 20, 18, 0), timedelta(hours=1)) == jst(2026, 11, 24, 10, 0)


def test_company_days_off_and_new_year_holidays_are_skipped() -> None:
    # Monday 28 December works; 29-31 are company days off; 1 January is a holiday;
    # 2-3 January are the weekend; work resumes Monday 4 January 2027.
    due = tokyo.add(jst(2026, 12, 28, 17, 0), timedelta(hours=2))
    assert due == jst(2027, 1, 4, 10, 0)


def test_a_start_outside_hours_waits_for_the_opening() -> None:
    assert tokyo.add(jst(2026, 11, 24, 7, 0), timedelta(minutes=30)) == jst(2026, 11, 24, 9, 30)


def test_due_times_are_exact_across_the_spring_dst_change() -> None:
    # 2026-03-08 is the US spring-forward Sunday; Friday 16:00 EST plus 2 business hours
    # is Monday 10:00 EDT, which is 14:00 UTC (not 15:00).
    due = new_york.add(datetime(2026, 3, 6, 16, 0, tzinfo=NEW_YORK), timedelta(hours=2))
    assert due == datetime(2026, 3, 9, 14, 0, tzinfo=UTC)
    assert due.astimezone(NEW_YORK).hour == 10


def test_a_working_day_spanning_the_autumn_change_is_as_long_as_it_really_is() -> None:
    night_shift = BusinessCalendar(
        "night", NEW_YORK, {6: (Shift.parse("00:00-04:00"),)}
    )  # Sunday 2026-11-01 repeats 01:00-02:00: five real hours
    start = datetime(2026, 11, 1, 0, 0, tzinfo=NEW_YORK)
    assert night_shift.seconds_between(start, start + timedelta(days=1)) == 5 * 3600


def test_business_seconds_between_count_only_working_time() -> None:
    start, end = jst(2026, 11, 27, 17, 0), jst(2026, 11, 30, 11, 0)
    assert tokyo.seconds_between(start, end) == 3 * 3600
    assert tokyo.seconds_between(end, start) == 0


def test_the_wall_clock_counts_every_second() -> None:
    start = jst(2026, 11, 27, 17, 0)
    assert WALL_CLOCK.add(start, timedelta(hours=3)) == start + timedelta(hours=3)
    assert WALL_CLOCK.seconds_between(start, start + timedelta(hours=3)) == 10800


def test_a_calendar_without_working_hours_is_refused() -> None:
    with pytest.raises(ValueError, match="no working hours"):
        BusinessCalendar("never", TOKYO, {})


@pytest.mark.parametrize("text", ["9-18", "09:00", "18:00-09:00", "09:00-24:30", "9:00-18:00"])
def test_a_shift_that_does_not_parse_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        Shift.parse(text)


starts = st.datetimes(
    min_value=datetime(2026, 1, 1), max_value=datetime(2028, 12, 31), timezones=st.just(UTC)
)
durations = st.integers(min_value=0, max_value=200 * 3600).map(lambda s: timedelta(seconds=s))
calendars = st.sampled_from([tokyo, new_york])


@settings(max_examples=150, deadline=None)
@given(calendar=calendars, start=starts, duration=durations)
def test_adding_business_time_never_lands_outside_working_hours(
    calendar: BusinessCalendar, start: datetime, duration: timedelta
) -> None:
    assert calendar.is_working(calendar.add(start, duration))


@settings(max_examples=150, deadline=None)
@given(calendar=calendars, start=starts, a=durations, b=durations)
def test_due_times_are_monotonic_in_the_duration(
    calendar: BusinessCalendar, start: datetime, a: timedelta, b: timedelta
) -> None:
    short, long = sorted((a, b))
    assert calendar.add(start, short) <= calendar.add(start, long)


@settings(max_examples=150, deadline=None)
@given(calendar=calendars, start=starts, duration=durations)
def test_the_business_time_until_the_due_time_is_the_duration(
    calendar: BusinessCalendar, start: datetime, duration: timedelta
) -> None:
    due = calendar.add(start, duration)
    assert due >= start
    assert calendar.seconds_between(start, due) == duration.total_seconds()
