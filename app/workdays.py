"""Working days (工作日) on the Chinese public-holiday calendar, with make-up working days (调休).

The bundled ``chinese-calendar`` data covers the years it was released for; a later year falls
back to Monday–Friday (``calendar_covers`` tells admins which years lack official data).
"""
from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar

SHANGHAI = ZoneInfo("Asia/Shanghai")
END_OF_DAY = time(23, 59, 59)


def calendar_covers(year: int) -> bool:
    try:
        chinese_calendar.is_workday(date(year, 6, 1))
    except NotImplementedError:
        return False
    return True


def is_working_day(day: date) -> bool:
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        return day.weekday() < 5


def add_working_days(start: datetime, days: int) -> datetime:
    """End (23:59:59 Asia/Shanghai, returned in UTC) of the ``days``-th working day after ``start``."""
    if days < 0:
        raise ValueError("days must not be negative")
    day = start.astimezone(SHANGHAI).date()
    counted = 0
    while counted < days:
        day += timedelta(days=1)
        if is_working_day(day):
            counted += 1
    if days == 0 and not is_working_day(day):
        while not is_working_day(day):
            day += timedelta(days=1)
    return datetime.combine(day, END_OF_DAY, tzinfo=SHANGHAI).astimezone(ZoneInfo("UTC"))
