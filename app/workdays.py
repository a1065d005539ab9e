"""Working days (工作日) on the Chinese public-holiday calendar, with make-up working days (调休).

Where a year's calendar comes from, in order:

1. ``official``: the year's schedule as an admin entered it from the State Council notice
   (``CalendarDay`` rows). A year with any rows is taken from those rows alone.
2. ``bundled``: the ``chinese-calendar`` package, for the years it was released for.
3. ``weekdays``: Monday–Friday; admins see a warning until the year's schedule is entered.

Every task creation computes a deadline, so each year's calendar is built once per process and
kept. Other processes (web workers, the worker) notice an admin's change through a version per
year — the number of rows and their latest ``created_at`` — read with one small query per call
of ``add_working_days``/``is_working_day``, so no process ever uses a superseded schedule.
Outside an application context (no database) only the bundled data and the fallback apply.
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar
import sqlalchemy as sa
from flask import has_app_context

from app.extensions import db
from app.models import CalendarDay

SHANGHAI = ZoneInfo("Asia/Shanghai")
END_OF_DAY = time(23, 59, 59)

OFFICIAL, BUNDLED, WEEKDAYS = "official", "bundled", "weekdays"

Version = tuple[int, datetime | None]   # (rows, latest created_at) of a year's CalendarDay rows
NO_ROWS: Version = (0, None)


@dataclass(frozen=True)
class YearCalendar:
    year: int
    source: str                                                       # official | bundled | weekdays
    holidays: Mapping[date, str] = field(default_factory=dict)        # day → holiday name (休)
    workdays: Mapping[date, str] = field(default_factory=dict)        # weekend day → make-up working day (调休上班)

    def is_working_day(self, day: date) -> bool:
        if day in self.workdays:
            return True
        if day in self.holidays:
            return False
        return day.weekday() < 5


_cache: dict[int, tuple[Version, YearCalendar]] = {}
_lock = threading.Lock()


def calendar_covers(year: int) -> bool:
    """Whether the bundled ``chinese-calendar`` data covers ``year``."""
    try:
        chinese_calendar.is_workday(date(year, 6, 1))
    except NotImplementedError:
        return False
    return True


def _bundled_name(english: str) -> str:
    try:
        return str(chinese_calendar.Holiday(english).chinese)
    except ValueError:
        return english


def _build(year: int, version: Version) -> YearCalendar:
    if version[0]:
        rows = db.session.execute(sa.select(CalendarDay.day, CalendarDay.kind, CalendarDay.name)
                                  .where(CalendarDay.year == year)).all()
        return YearCalendar(year, OFFICIAL,
                            holidays={r.day: r.name for r in rows if r.kind == "holiday"},
                            workdays={r.day: r.name for r in rows if r.kind == "workday"})
    if calendar_covers(year):
        return YearCalendar(
            year, BUNDLED,
            holidays={d: _bundled_name(n) for d, n in chinese_calendar.holidays.items() if d.year == year},
            workdays={d: _bundled_name(n) for d, n in chinese_calendar.workdays.items() if d.year == year})
    return YearCalendar(year, WEEKDAYS)


def versions() -> dict[int, Version]:
    """Every year with official rows, and its version (one small GROUP BY over a short table)."""
    if not has_app_context():
        return {}
    rows = db.session.execute(sa.select(CalendarDay.year, sa.func.count(), sa.func.max(CalendarDay.created_at))
                              .group_by(CalendarDay.year)).all()
    return {int(year): (int(count), latest) for year, count, latest in rows}


def _calendar(year: int, version: Version) -> YearCalendar:
    cached = _cache.get(year)
    if cached is not None and cached[0] == version:
        return cached[1]
    built = _build(year, version)
    with _lock:
        _cache[year] = (version, built)
    return built


def _lookup() -> Callable[[int], YearCalendar]:
    """Calendars by year, against the versions read once now."""
    current = versions()
    return lambda year: _calendar(year, current.get(year, NO_ROWS))


def year_calendar(year: int) -> YearCalendar:
    return _lookup()(year)


def invalidate(year: int | None = None) -> None:
    """Forget a year (or all): called after an admin saves, so this process rebuilds at once."""
    with _lock:
        if year is None:
            _cache.clear()
        else:
            _cache.pop(year, None)


def is_working_day(day: date) -> bool:
    return year_calendar(day.year).is_working_day(day)


def add_working_days(start: datetime, days: int) -> datetime:
    """End (23:59:59 Asia/Shanghai, returned in UTC) of the ``days``-th working day after ``start``."""
    if days < 0:
        raise ValueError("days must not be negative")
    calendar_of = _lookup()

    def working(day: date) -> bool:
        return calendar_of(day.year).is_working_day(day)

    day = start.astimezone(SHANGHAI).date()
    counted = 0
    while counted < days:
        day += timedelta(days=1)
        if working(day):
            counted += 1
    if days == 0:
        while not working(day):
            day += timedelta(days=1)
    return datetime.combine(day, END_OF_DAY, tzinfo=SHANGHAI).astimezone(ZoneInfo("UTC"))


def years_missing_data(today: date | None = None) -> list[int]:
    """This year and next, where neither an official schedule nor bundled data exists."""
    today = today or datetime.now(SHANGHAI).date()
    lookup = _lookup()
    return [y for y in (today.year, today.year + 1) if lookup(y).source == WEEKDAYS]
