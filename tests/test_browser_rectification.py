"""Playwright: the office issues a rectification notice from its page; the unit finds it, answers it on its
task page, the office returns it once and then closes it. Screenshots land in tests/_artifacts/."""
from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from playwright.sync_api import Page, expect

from app.models.base import utcnow
from app.tasks import sweep_timers
from tests.test_browser import browser_type_launch_args, live_server, login, logout, shot  # noqa: F401

pytestmark = pytest.mark.browser


def group_task(page: Page, base: str, username: str, task: str) -> None:
    """Sign in afresh and open the first group task of that name."""
    logout(page)
    login(page, base, username)
    page.get_by_role("link", name="组待办", exact=True).click()
    page.get_by_role("link", name=task).first.click()


def test_rectification_notice_in_the_browser(people, api_as, app, live_server: str,  # noqa: F811
                                            page: Page) -> None:
    base = live_server
    page.set_viewport_size({"width": 1400, "height": 900})

    login(page, base, "manager")
    page.get_by_role("link", name="整改通知").click()
    page.get_by_role("link", name="下发整改通知书").click()
    page.get_by_label("整改单位").select_option("GAT")
    page.get_by_label("标题").fill("政务服务事项办理超时整改")
    page.get_by_label("存在问题").fill("1. 第三季度 12 件事项超期办结。\n2. 好差评差评件未在 3 个工作日内回访。")
    page.get_by_label("整改要求").fill("逐件说明超期原因，建立超期预警机制，差评件 100% 回访。")
    page.get_by_role("textbox", name="工作日数").fill("0")
    page.get_by_role("button", name="下发", exact=True).click()
    expect(page.get_by_text("须在 1 到 90 个工作日之间。")).to_be_visible()
    shot(page, "rectification-00-new-error")
    page.get_by_role("textbox", name="工作日数").fill("10")
    page.get_by_role("button", name="下发", exact=True).click()
    expect(page.get_by_text("整改通知书已下发：政务服务事项办理超时整改")).to_be_visible()
    page.get_by_role("link", name="« 整改通知").click()
    expect(page.get_by_role("cell", name="待整改")).to_be_visible()
    shot(page, "rectification-01-list")
    logout(page)

    # The unit: the notice from its list, then the task beside the notice.
    login(page, base, "unit_gat")
    page.get_by_role("link", name="整改通知").click()
    page.get_by_role("link", name="政务服务事项办理超时整改").click()
    expect(page.get_by_text("差评件 100% 回访")).to_be_visible()
    page.get_by_role("link", name="去办理").click()
    page.get_by_label("原因分析（自我分析）").fill("窗口人员不足；办件系统没有超期预警；回访未纳入考核。")
    page.get_by_label("整改措施及成效").fill("增配 2 名窗口人员；上线超期预警；差评回访纳入月度考核。")
    page.get_by_label("佐证材料说明").fill("预警系统截图、人员排班表、10 月回访台账。")
    shot(page, "rectification-02-unit-task")
    page.get_by_role("button", name="提交").click()

    # The office returns it once, then the unit resubmits and the office closes it.
    group_task(page, base, "manager", "核验整改报告")
    page.get_by_label("退回重新整改").check()
    page.get_by_label("核验意见").fill("请附 10 月回访率统计。")
    page.get_by_role("button", name="提交").click()
    group_task(page, base, "unit_gat", "自我分析与整改报告")
    expect(page.get_by_text("请附 10 月回访率统计。")).to_be_visible()
    page.get_by_label("原因分析（自我分析）").fill("窗口人员不足；办件系统没有超期预警；回访未纳入考核。")
    page.get_by_label("整改措施及成效").fill("同上；10 月差评回访率 100%（46/46）。")
    page.get_by_role("button", name="提交").click()
    group_task(page, base, "manager", "核验整改报告")
    expect(page.locator("dd", has_text="同上；10 月差评回访率 100%（46/46）。")).to_be_visible()   # beside the form
    shot(page, "rectification-03-verify-task")
    page.get_by_label("通过（整改销号）").check()
    page.get_by_role("button", name="提交").click()
    expect(page.locator("#diagram[data-rendered=true]")).to_be_attached(timeout=10000)
    shot(page, "rectification-05-instance")
    page.get_by_role("link", name="查看整改通知书").click()
    expect(page.get_by_text("已销号").first).to_be_visible()
    page.locator("details summary").first.click()
    shot(page, "rectification-04-notice")

    # Three weeks on, a second notice has passed its deadline: its timer chased the unit and the list says so.
    second = {"unit": "CS", "title": "好差评数据迟报整改", "problems": "9 月数据迟报 5 天。", "deadline_days": 3}
    assert api_as("manager").post("/rectifications", second).status_code == 201
    with time_machine.travel(utcnow() + timedelta(days=21)):
        with app.app_context():
            assert sweep_timers() == 1
        page.get_by_role("link", name="« 整改通知").click()
        expect(page.get_by_text("已逾期")).to_be_visible()
        shot(page, "rectification-06-list-overdue")
