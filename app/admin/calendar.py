"""工作日安排: an admin enters a year's official schedule as the State Council publishes it."""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from flask import flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user

from app import workdays
from app.admin import bp
from app.database import write_transaction
from app.i18n import N_
from app.services import holidays
from app.services.errors import Invalid

SOURCE_LABELS = {
    workdays.OFFICIAL: N_("官方安排（管理员录入）"),
    workdays.BUNDLED: N_("内置数据（chinese-calendar）"),
    workdays.WEEKDAYS: N_("无数据：按周一至周五计算"),
}
EXAMPLE = "2027-01-01 至 2027-01-03 元旦\n2027-02-07 上班 春节调休"


@bp.app_context_processor
def _calendar_gaps() -> dict[str, Callable[[], list[int]]]:
    return {"calendar_gaps": workdays.years_missing_data}


def _this_year() -> int:
    return datetime.now(workdays.SHANGHAI).year


def _render(year: int, text: str | None = None, checked: holidays.Checked | None = None,
            status: int = 200) -> ResponseReturnValue:
    this_year = _this_year()
    years = sorted({this_year - 1, this_year, this_year + 1, year} | set(workdays.versions()))
    calendars = {y: workdays.year_calendar(y) for y in years}
    selected = calendars[year]
    if text is None:
        text = holidays.schedule_text(selected) if selected.source == workdays.OFFICIAL else ""
    return render_template(
        "admin/calendar.html", year=year, calendars=calendars, selected=selected, text=text,
        periods=holidays.periods_of(selected), checked=checked,
        source_labels=SOURCE_LABELS, example=EXAMPLE, weekday_label=holidays.weekday_label), status


@bp.route("/calendar", methods=["GET", "POST"])
def calendar() -> ResponseReturnValue:
    if request.method == "GET":
        year = request.args.get("year", type=int) or next(iter(workdays.years_missing_data()), _this_year())
        try:
            holidays.check_year(year)
        except Invalid:
            return redirect(url_for("admin.calendar"))
        return _render(year)
    text = request.form.get("schedule", "")
    try:
        year = int(request.form.get("year", ""))
        with write_transaction():
            checked = holidays.save_schedule(current_user, year, text)
    except ValueError:
        flash(_("年份有误。"), "danger")
        return redirect(url_for("admin.calendar"))
    except holidays.ScheduleInvalid as exc:
        return _render(year, text, exc.checked, 422)
    except Invalid as exc:
        flash(exc.message, "danger")
        return redirect(url_for("admin.calendar"))
    if checked.periods:
        flash(_("已保存 %(year)d 年工作日安排：%(h)d 段放假，%(w)d 个调休上班日。", year=year,
                h=sum(1 for p in checked.periods if p.kind == "holiday"),
                w=sum(len(p.days()) for p in checked.periods if p.kind == "workday")), "success")
    else:
        flash(_("已删除 %(year)d 年的官方安排。", year=year), "info")
    for warning in checked.warnings:
        flash(_("第 %(n)s 行：", n=warning["row"]) + str(warning["message"]), "warning")
    return redirect(url_for("admin.calendar", year=year))
