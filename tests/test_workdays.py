"""Deadlines in working days on the Chinese holiday calendar (with 调休), ending 23:59:59 Beijing time."""
from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar
import pytest

from app.workdays import SHANGHAI, add_working_days, calendar_covers, is_working_day


def beijing(year: int, month: int, day: int, hour: int = 10) -> datetime:
    return datetime(year, month, day, hour, tzinfo=SHANGHAI)


def due_day(start: datetime, days: int) -> date:
    return add_working_days(start, days).astimezone(SHANGHAI).date()


# ----------------------------------------------------------------------------- the calendar data the tests rely on

def test_the_bundled_calendar_has_the_2026_national_day_holiday_and_make_up_days():
    assert calendar_covers(2026)
    national_day = [date(2026, 10, d) for d in range(1, 8)]
    assert all(chinese_calendar.is_holiday(d) for d in national_day)
    assert chinese_calendar.is_workday(date(2026, 10, 8))
    assert date(2026, 10, 10).weekday() == 5 and chinese_calendar.is_workday(date(2026, 10, 10))  # 调休 Saturday
    assert date(2026, 9, 20).weekday() == 6 and chinese_calendar.is_workday(date(2026, 9, 20))    # 调休 Sunday


def test_2027_is_not_covered_and_falls_back_to_monday_to_friday():
    assert not calendar_covers(2027)
    assert is_working_day(date(2027, 1, 1))        # a Friday: without data, New Year's Day is not known
    assert not is_working_day(date(2027, 1, 2))    # Saturday
    assert is_working_day(date(2027, 1, 4))        # Monday


# ----------------------------------------------------------------------------- add_working_days

def test_the_result_is_the_end_of_the_day_in_beijing_returned_in_utc():
    due = add_working_days(beijing(2026, 6, 2), 1)     # Tuesday → Wednesday
    assert due.tzinfo is not None and due.utcoffset() == timedelta(0)
    assert due == datetime(2026, 6, 3, 15, 59, 59, tzinfo=UTC)
    assert due.astimezone(SHANGHAI).time() == time(23, 59, 59)


def test_a_weekend_is_skipped():
    assert due_day(beijing(2026, 6, 5), 1) == date(2026, 6, 8)       # Friday → Monday
    assert due_day(beijing(2026, 6, 5), 5) == date(2026, 6, 12)


def test_national_day_holiday_is_crossed():
    # 30 September 2026 (Wednesday): 1–7 October are holidays, the 8th is the next working day.
    assert due_day(beijing(2026, 9, 30), 1) == date(2026, 10, 8)
    assert due_day(beijing(2026, 9, 28), 5) == date(2026, 10, 10)    # 29, 30, 8, 9, and the 调休 Saturday


def test_a_make_up_saturday_counts_as_a_working_day():
    assert due_day(beijing(2026, 10, 9), 1) == date(2026, 10, 10)    # Friday → 调休 Saturday
    assert due_day(beijing(2026, 10, 10), 1) == date(2026, 10, 12)   # Sunday the 11th is a rest day


def test_the_turn_of_2026_into_2027_uses_the_fallback():
    # 30 December 2026 is a Wednesday: the 31st, then 2027 (no data) counts Friday 1 January and Monday the 4th.
    assert due_day(beijing(2026, 12, 30), 1) == date(2026, 12, 31)
    assert due_day(beijing(2026, 12, 30), 2) == date(2027, 1, 1)
    assert due_day(beijing(2026, 12, 30), 3) == date(2027, 1, 4)
    assert add_working_days(beijing(2026, 12, 30), 3) == datetime(2027, 1, 4, 15, 59, 59, tzinfo=UTC)


def test_the_start_day_is_taken_in_beijing_time():
    # 17:00 UTC on 30 September is already 1 October in Beijing: counting starts from the holiday.
    late_utc = datetime(2026, 9, 30, 17, 0, tzinfo=UTC)
    assert due_day(late_utc, 1) == date(2026, 10, 8)
    early_utc = datetime(2026, 9, 29, 1, 0, tzinfo=UTC)               # 09:00 on the 29th in Beijing
    assert due_day(early_utc, 1) == date(2026, 9, 30)


def test_any_time_zone_gives_the_same_answer():
    start = beijing(2026, 6, 5, 9)
    assert add_working_days(start, 3) == add_working_days(start.astimezone(ZoneInfo("America/New_York")), 3)


def test_zero_days_is_today_or_the_next_working_day():
    assert due_day(beijing(2026, 6, 3), 0) == date(2026, 6, 3)
    assert due_day(beijing(2026, 10, 3), 0) == date(2026, 10, 8)


def test_negative_days_are_refused():
    with pytest.raises(ValueError, match="negative"):
        add_working_days(beijing(2026, 6, 3), -1)
