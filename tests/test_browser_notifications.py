"""Playwright: the bell and the notifications page; an admin enters a year's working-day schedule.
Screenshots land in tests/_artifacts/."""
from __future__ import annotations

import pytest
import sqlalchemy as sa
from flask import Flask
from playwright.sync_api import Page, expect

from app.database import write_transaction
from app.extensions import db
from app.models import User
from app.services.notifications import notify
from tests.test_browser import browser_type_launch_args, live_server, login, shot  # noqa: F401

pytestmark = pytest.mark.browser


def test_bell_and_notifications_page_in_the_browser(app: Flask, people, live_server: str,  # noqa: F811
                                                    page: Page) -> None:
    with app.app_context(), write_transaction():
        reviewer = db.session.scalar(sa.select(User).where(User.username == "reviewer"))
        notify([reviewer], "计划已发布：2026年度运维考核计划", "审核通过，计划已发布。", "/plans/")
        notify([reviewer], "请审核《2027年度运维考核计划》", "王考核提交了计划，请在 5 个工作日内审核。", "/plans/")
        notify([reviewer], "任务即将逾期：审核考核计划", "期限为 2027-01-04 23:59:59，请尽快办理。", "/inbox")

    page.set_viewport_size({"width": 1400, "height": 800})
    login(page, live_server, "reviewer")
    bell = page.locator("nav a.bell")
    expect(bell.locator("[data-unread]")).to_have_text("3")
    shot(page, "notify-01-bell")

    bell.click()
    expect(page.get_by_role("heading", name="通知")).to_be_visible()
    expect(page.locator(".notification-unread")).to_have_count(3)
    page.get_by_role("button", name="请审核《2027年度运维考核计划》").click()     # opens its link, marks it read
    expect(page).to_have_url(live_server + "/plans/")
    expect(bell.locator("[data-unread]")).to_have_text("2")
    bell.click()
    expect(page.locator(".notification-unread")).to_have_count(2)
    shot(page, "notify-02-page")

    page.get_by_role("button", name="全部标为已读").click()
    expect(page.get_by_text("已将 2 条通知标为已读。")).to_be_visible()
    expect(page.locator(".notification-unread")).to_have_count(0)
    expect(bell.locator("[data-unread]")).to_have_count(0)


def test_calendar_admin_page_in_the_browser(people, live_server: str, page: Page) -> None:  # noqa: F811
    page.set_viewport_size({"width": 1400, "height": 900})
    login(page, live_server, "admin")
    page.get_by_role("button", name="系统管理").click()          # the admin pages sit under one menu
    shot(page, "navbar-admin-menu")
    page.get_by_role("link", name="工作日安排").click()
    page.goto(live_server + "/admin/calendar?year=2027")
    expect(page.get_by_text("2027 年尚无官方节假日安排，也没有内置数据")).to_be_visible()

    page.get_by_label("安排（每行一项）").fill(
        "2027-01-01 至 2027-01-03 元旦\n2027-02-05 至 2027-02-13 春节\n2027-02-08 上班 春节调休\n"
        "2027-02-20 上班 春节调休")
    page.get_by_role("button", name="保存 2027 年安排").click()
    errors = page.locator("#schedule-errors")
    expect(errors).to_contain_text("第 3 行：调休上班日须为周六或周日，2027-02-08（周一）本来就是工作日")
    shot(page, "calendar-01-error")

    page.get_by_label("安排（每行一项）").fill(
        "2027-01-01 至 2027-01-03 元旦\n2027-02-05 至 2027-02-13 春节\n2027-02-20 上班 春节调休")
    page.get_by_role("button", name="保存 2027 年安排").click()
    expect(page.get_by_text("已保存 2027 年工作日安排：2 段放假，1 个调休上班日。")).to_be_visible()
    summary = page.locator("table.calendar-summary")
    expect(summary).to_contain_text("2027-02-05 (周五) 至 2027-02-13 (周六)")
    expect(summary).to_contain_text("调休上班")
    expect(page.locator("tr.table-active")).to_contain_text("官方安排（管理员录入）")
    shot(page, "calendar-02-saved")
