"""The official working-day schedule an admin enters (工作日安排), and the deadlines that follow it."""
from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa
import time_machine
from flask import Flask

from app import workdays
from app.database import write_transaction
from app.extensions import db
from app.models import CalendarDay, User
from app.services import holidays
from app.services.errors import Invalid
from app.workdays import SHANGHAI, add_working_days, is_working_day
from tests.conftest import plan_payload

SCHEDULE_2027 = """\
# 国务院办公厅关于2027年部分节假日安排的通知（示例）
2027-01-01 至 2027-01-03 元旦
2027-02-05 至 2027-02-13 春节
2027-02-20 上班 春节调休
"""
LATE_DECEMBER = datetime(2026, 12, 28, 10, 0, tzinfo=SHANGHAI)     # Monday


def due_day(start: datetime, days: int) -> date:
    return add_working_days(start, days).astimezone(SHANGHAI).date()


def save(app: Flask, year: int, text: str) -> holidays.Checked:
    with app.app_context(), write_transaction():
        admin = db.session.scalar(sa.select(User).where(User.username == "admin"))
        assert admin is not None
        return holidays.save_schedule(admin, year, text)


# ----------------------------------------------------------------------------- reading the notice's lines

def test_lines_are_read_the_way_the_notice_is_written():
    checked = holidays.check_schedule(2027, SCHEDULE_2027 + "2027年10月1日 至 2027年10月7日 国庆节\n2027/09/26 补班\n")
    assert checked.errors == [] and checked.warnings == []
    summary = [(p.kind, p.start.isoformat(), p.end.isoformat(), p.name, p.line) for p in checked.periods]
    assert summary == [
        ("holiday", "2027-01-01", "2027-01-03", "元旦", 2),
        ("holiday", "2027-02-05", "2027-02-13", "春节", 3),
        ("workday", "2027-02-20", "2027-02-20", "春节调休", 4),
        ("holiday", "2027-10-01", "2027-10-07", "国庆节", 5),
        ("workday", "2027-09-26", "2027-09-26", "", 6),
    ]
    assert checked.periods[0].weekdays_off == 1      # 1 January is a Friday; the weekend changes nothing


@pytest.mark.parametrize(("line", "message"), [
    ("元旦放假三天", "无法识别"),
    ("2027-02-30 春节", "日期不存在"),
    ("2026-12-31 至 2027-01-02 元旦", "日期不在 2027 年内"),
    ("2027-01-03 至 2027-01-01 元旦", "结束日期早于开始日期"),
    ("2027-02-08 上班 春节调休", "调休上班日须为周六或周日，2027-02-08（周一）本来就是工作日"),
    ("2027-01-01 至 2027-03-01 元旦", "一段不能超过 31 天"),
])
def test_each_bad_line_is_named_with_its_problem(line, message):
    checked = holidays.check_schedule(2027, "2027-05-01 至 2027-05-05 劳动节\n\n" + line)
    assert len(checked.errors) == 1
    assert checked.errors[0]["row"] == 3 and message in str(checked.errors[0]["message"])


def test_overlapping_entries_are_refused_naming_both_lines():
    checked = holidays.check_schedule(2027, "2027-10-01 至 2027-10-07 国庆节\n2027-10-06 至 2027-10-08 中秋节\n"
                                            "2027-10-09 上班\n2027-10-09 上班 重复")
    assert [(e["row"], e["message"]) for e in checked.errors] == [
        (2, "与第 1 行的日期重叠（2027-10-06 至 2027-10-08 中秋节）"),
        (4, "与第 3 行的日期重叠（2027-10-09 上班 重复）"),
    ]


def test_a_weekend_only_holiday_is_a_warning_not_an_error():
    checked = holidays.check_schedule(2027, "2027-01-02 至 2027-01-03 元旦")
    assert checked.errors == [] and len(checked.periods) == 1
    assert checked.warnings == [{"row": 1,
                                 "message": "这段假期全在周末，不改变任何工作日（2027-01-02 至 2027-01-03 元旦）"}]


def test_a_year_out_of_range_is_refused():
    with pytest.raises(Invalid):
        holidays.check_schedule(1999, "")


# ----------------------------------------------------------------------------- deadlines

def test_without_official_rows_the_bundled_2026_data_still_applies_inside_the_app(app):
    with app.app_context():
        assert workdays.year_calendar(2026).source == workdays.BUNDLED
        assert due_day(datetime(2026, 9, 30, 10, tzinfo=SHANGHAI), 1) == date(2026, 10, 8)    # 国庆 crossed
        assert due_day(datetime(2026, 10, 9, 10, tzinfo=SHANGHAI), 1) == date(2026, 10, 10)   # 调休 Saturday
        assert due_day(datetime(2026, 2, 13, 10, tzinfo=SHANGHAI), 1) == date(2026, 2, 14)    # 春节 调休 Saturday
        assert due_day(datetime(2026, 2, 14, 10, tzinfo=SHANGHAI), 1) == date(2026, 2, 24)    # then 春节 15–23
        assert workdays.year_calendar(2027).source == workdays.WEEKDAYS


def test_entering_2027_moves_a_deadline_across_the_turn_of_the_year(app, people):
    with app.app_context():
        before = add_working_days(LATE_DECEMBER, 5)       # 29, 30, 31 Dec, Fri 1 Jan (Mon–Fri), Mon 4 Jan
    assert before == datetime(2027, 1, 4, 15, 59, 59, tzinfo=UTC)
    assert before.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S") == "2027-01-04 23:59:59"

    save(app, 2027, SCHEDULE_2027)
    with app.app_context():
        assert workdays.year_calendar(2027).source == workdays.OFFICIAL
        assert add_working_days(LATE_DECEMBER, 5) == datetime(2027, 1, 5, 15, 59, 59, tzinfo=UTC)  # 元旦 is off
        assert due_day(datetime(2027, 2, 4, 10, tzinfo=SHANGHAI), 1) == date(2027, 2, 15)     # 春节 crossed
        assert due_day(datetime(2027, 2, 19, 10, tzinfo=SHANGHAI), 1) == date(2027, 2, 20)    # 调休 Saturday
        assert not is_working_day(date(2027, 2, 27))                                          # other Saturdays rest

    save(app, 2027, "")                                  # removing the year falls back to Monday–Friday
    with app.app_context():
        assert add_working_days(LATE_DECEMBER, 5) == before


def test_a_task_created_after_the_schedule_is_entered_gets_the_new_deadline(app, people, api_as):
    def review_due() -> str:
        created = api_as("manager").post("/plans", plan_payload())
        assert api_as("manager").post(f"/plans/{created.json['id']}/submit").status_code == 201
        tasks = api_as("reviewer").get("/tasks?scope=candidate").json["items"]
        return str(max(tasks, key=lambda t: t["id"])["due_at"])   # the review task: 5 working days

    with time_machine.travel(LATE_DECEMBER, tick=False):
        assert review_due().startswith("2027-01-04T15:59:59")
        save(app, 2027, SCHEDULE_2027)
        assert review_due().startswith("2027-01-05T15:59:59")


def test_an_official_year_replaces_the_bundled_data_for_that_year(app, people):
    save(app, 2026, "2026-10-01 至 2026-10-03 国庆节\n2026-10-10 上班")    # a schedule unlike the bundled one
    with app.app_context():
        assert not is_working_day(date(2026, 10, 2))
        assert is_working_day(date(2026, 10, 5))            # a bundled holiday, not in the official rows
        assert not is_working_day(date(2026, 9, 20))        # a bundled 调休 Sunday, not in the official rows
        assert is_working_day(date(2026, 10, 10))
        assert is_working_day(date(2026, 1, 2))             # the year is taken from its rows alone


def test_another_process_saving_is_seen_without_a_restart(app, people):
    """Rows written behind this process's back (no invalidate() here) are picked up by the version check."""
    with app.app_context():
        assert is_working_day(date(2027, 1, 1))             # cached as Monday–Friday
    with app.app_context(), write_transaction():
        db.session.add(CalendarDay(day=date(2027, 1, 1), year=2027, kind="holiday", name="元旦"))
    with app.app_context():
        assert not is_working_day(date(2027, 1, 1))
    with app.app_context(), write_transaction():
        db.session.execute(sa.update(CalendarDay).where(CalendarDay.day == date(2027, 1, 1))
                           .values(kind="workday", created_at=datetime(2027, 1, 1, tzinfo=UTC)))
        db.session.add(CalendarDay(day=date(2027, 1, 2), year=2027, kind="workday", name="调休"))
    with app.app_context():
        assert is_working_day(date(2027, 1, 2))


# ----------------------------------------------------------------------------- the admin page

def test_the_page_shows_sources_and_warns_about_a_year_without_data(app, people, login):
    with time_machine.travel(LATE_DECEMBER, tick=False):
        client = login("admin")
        page = client.get("/admin/calendar").get_data(as_text=True)
        assert "2027 年尚无官方节假日安排" in page and "内置数据（chinese-calendar）" in page
        assert "无数据：按周一至周五计算" in page
        assert "录入 2027 年官方安排" in page                   # the year lacking data is the one offered
        assert "calendar-gap" in client.get("/inbox").get_data(as_text=True)   # the banner for admins
        login("manager")
        assert "calendar-gap" not in client.get("/inbox").get_data(as_text=True)


def test_saving_from_the_page_with_an_error_saves_nothing_and_names_the_line(app, people, login):
    with time_machine.travel(LATE_DECEMBER, tick=False):
        client = login("admin")
        bad = client.post("/admin/calendar", data={"year": "2027", "schedule": SCHEDULE_2027 + "2027-02-08 上班\n"})
        html = bad.get_data(as_text=True)
        assert bad.status_code == 422
        assert "第 5 行：调休上班日须为周六或周日，2027-02-08（周一）本来就是工作日" in html
        assert "2027-02-05 至 2027-02-13 春节" in html      # the text is kept for correction
        with app.app_context():
            assert db.session.scalar(sa.select(sa.func.count()).select_from(CalendarDay)) == 0

        saved = client.post("/admin/calendar", data={"year": "2027", "schedule": SCHEDULE_2027},
                            follow_redirects=True)
        html = saved.get_data(as_text=True)
        assert "已保存 2027 年工作日安排：2 段放假，1 个调休上班日。" in html
        assert "官方安排（管理员录入）" in html and "calendar-gap" not in html
        with app.app_context():
            kinds = db.session.scalars(sa.select(CalendarDay.kind).where(CalendarDay.year == 2027)).all()
            assert sorted(kinds) == ["holiday"] * (3 + 9) + ["workday"]


def test_the_admin_page_replaces_a_year_all_or_nothing(app, people, login):
    save(app, 2027, SCHEDULE_2027)
    client = login("admin")
    client.post("/admin/calendar", data={"year": "2027", "schedule": "2027-10-01 至 2027-10-07 国庆节"})
    with app.app_context():
        days = db.session.scalars(sa.select(CalendarDay.day).where(CalendarDay.year == 2027)).all()
    assert sorted(days) == [date(2027, 10, d) for d in range(1, 8)]
    page = client.get("/admin/calendar?year=2027").get_data(as_text=True)
    assert "2027-10-01 至 2027-10-07 国庆节" in page           # the form holds the year's schedule to edit


def test_the_schedule_text_reads_back_to_the_same_calendar(app):
    """What the form shows for a year enters that year again unchanged (checked on the 2026 bundled data)."""
    with app.app_context():
        bundled = workdays.year_calendar(2026)
    text = holidays.schedule_text(bundled)
    assert "2026-10-01 至 2026-10-07 国庆节" in text and "2026-10-10 上班 国庆节" in text
    checked = holidays.check_schedule(2026, text)
    assert checked.errors == []
    days = {(d, p.kind) for p in checked.periods for d in p.days()}
    assert days == {(d, "holiday") for d in bundled.holidays} | {(d, "workday") for d in bundled.workdays}
