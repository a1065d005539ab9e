"""A year's official working-day schedule (国务院办公厅关于部分节假日安排的通知), entered by an admin.

The text is written the way the notice reads, one entry a line::

    2027-01-01 至 2027-01-03 元旦          (a holiday, or a single day: 2027-10-01 国庆节)
    2027-02-07 上班 春节调休               (a make-up working day on a weekend)

Saving replaces the year's rows all or nothing; the year is then taken from these rows alone
(app/workdays.py). An empty text removes the year's official schedule.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, timedelta

import sqlalchemy as sa

from app import workdays
from app.extensions import db
from app.i18n import N_
from app.models import CalendarDay, User
from app.models.base import utcnow
from app.services.errors import Invalid, InvalidRows

MIN_YEAR, MAX_YEAR = 2000, 2100
MAX_RANGE_DAYS = 31          # no holiday is longer: a longer range is a typo in a date
DATE = r"(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?"
LINE = re.compile(rf"^{DATE}(?:\s*(?:至|到|~|～|—|–)\s*{DATE})?(?:\s+(上班|补班))?(?:\s+(.*))?$")
WEEKDAY_LABELS = (N_("周一"), N_("周二"), N_("周三"), N_("周四"), N_("周五"), N_("周六"), N_("周日"))


@dataclass(frozen=True)
class Period:
    """Consecutive days of one kind and name: a holiday range or a make-up working day."""

    kind: str          # holiday | workday
    start: date
    end: date
    name: str
    line: int = 0      # where it was written (0: not from a text)

    def days(self) -> list[date]:
        return [self.start + timedelta(days=i) for i in range((self.end - self.start).days + 1)]

    @property
    def weekdays_off(self) -> int:
        """Working days this holiday actually takes (weekends inside it change nothing)."""
        return sum(1 for d in self.days() if d.weekday() < 5) if self.kind == "holiday" else 0


@dataclass
class Checked:
    year: int
    periods: list[Period] = field(default_factory=list)
    errors: list[dict[str, object]] = field(default_factory=list)     # [{row, message}]
    warnings: list[dict[str, object]] = field(default_factory=list)


class ScheduleInvalid(InvalidRows):
    def __init__(self, checked: Checked) -> None:
        super().__init__(f"{checked.year} 年的工作日安排有误，未保存", checked.errors)
        self.checked = checked


def weekday_label(day: date) -> str:
    return WEEKDAY_LABELS[day.weekday()]


def _date(groups: tuple[str | None, ...]) -> date | None:
    year, month, day = (int(g or 0) for g in groups)
    try:
        return date(year, month, day)
    except ValueError:
        return None


def check_year(year: int) -> None:
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise Invalid("年份有误", {"year": [f"年份须在 {MIN_YEAR}–{MAX_YEAR} 之间。"]})


def _parse_line(number: int, text: str, checked: Checked) -> Period | None:
    def fail(message: str) -> None:
        checked.errors.append({"row": number, "message": f"{message}（{text}）"})

    match = LINE.match(text)
    if match is None:
        fail("无法识别，应写作“2027-01-01 至 2027-01-03 元旦”或“2027-02-07 上班 春节调休”")
        return None
    start = _date(match.group(1, 2, 3))
    end = _date(match.group(4, 5, 6)) if match.group(4) else start
    if start is None or end is None:
        fail("日期不存在")
        return None
    if end < start:
        fail("结束日期早于开始日期")
        return None
    if start.year != checked.year or end.year != checked.year:
        fail(f"日期不在 {checked.year} 年内")
        return None
    if (end - start).days >= MAX_RANGE_DAYS:
        fail(f"一段不能超过 {MAX_RANGE_DAYS} 天，请检查日期")
        return None
    period = Period("workday" if match.group(7) else "holiday", start, end, (match.group(8) or "").strip()[:100],
                    number)
    if period.kind == "workday":
        weekdays = [d for d in period.days() if d.weekday() < 5]
        if weekdays:
            fail("调休上班日须为周六或周日，" + "、".join(f"{d.isoformat()}（{weekday_label(d)}）" for d in weekdays)
                 + "本来就是工作日")
            return None
    elif period.weekdays_off == 0:
        checked.warnings.append({"row": number, "message": f"这段假期全在周末，不改变任何工作日（{text}）"})
    return period


def check_schedule(year: int, text: str) -> Checked:
    """Parse and validate every line; errors and warnings name the line they are on."""
    check_year(year)
    checked = Checked(year)
    claimed: dict[date, int] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        period = _parse_line(number, line, checked)
        if period is None:
            continue
        clashes = sorted({claimed[d] for d in period.days() if d in claimed})
        if clashes:
            checked.errors.append({"row": number, "message": "与第 " + "、".join(map(str, clashes))
                                   + f" 行的日期重叠（{line}）"})
            continue
        claimed.update(dict.fromkeys(period.days(), number))
        checked.periods.append(period)
    return checked


def save_schedule(actor: User, year: int, text: str) -> Checked:
    """Replace the year's official schedule with the text's (nothing changes on any error)."""
    checked = check_schedule(year, text)
    if checked.errors:
        raise ScheduleInvalid(checked)
    db.session.execute(sa.delete(CalendarDay).where(CalendarDay.year == year))
    now = utcnow()
    db.session.add_all(CalendarDay(day=day, year=year, kind=p.kind, name=p.name, created_by_id=actor.id,
                                   created_at=now)
                       for p in checked.periods for day in p.days())
    db.session.flush()
    workdays.invalidate(year)
    return checked


def periods_of(calendar: workdays.YearCalendar) -> list[Period]:
    """The year's holidays and make-up working days as the notice lists them, in date order."""
    days = sorted([(d, "holiday", n) for d, n in calendar.holidays.items()]
                  + [(d, "workday", n) for d, n in calendar.workdays.items()])
    periods: list[Period] = []
    for day, kind, name in days:
        last = periods[-1] if periods else None
        if (last is not None and kind == "holiday" == last.kind and name == last.name
                and day == last.end + timedelta(days=1)):
            periods[-1] = Period(kind, last.start, day, name)
        else:
            periods.append(Period(kind, day, day, name))
    return periods


def schedule_text(calendar: workdays.YearCalendar) -> str:
    """The lines that would enter ``calendar`` again (to edit an official year, or start from bundled data)."""
    lines = []
    for p in periods_of(calendar):
        dates = p.start.isoformat() if p.start == p.end else f"{p.start.isoformat()} 至 {p.end.isoformat()}"
        lines.append(" ".join(filter(None, [dates, "上班" if p.kind == "workday" else "", p.name])))
    return "\n".join(lines)
