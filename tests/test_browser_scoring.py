"""Playwright: an evaluator works the score-entry grid (drafts, errors in place, submission), then the
office publishes the results. Screenshots land in tests/_artifacts/."""
from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from app.models import Role
from tests.conftest import plan_payload
from tests.test_browser import browser_type_launch_args, live_server, login, logout, shot  # noqa: F401
from tests.test_scoring_round import EVALUATORS, TREE, publish

pytestmark = pytest.mark.browser


def test_score_grid_and_publication_in_the_browser(people, make_user, api_as, live_server: str,  # noqa: F811
                                                   page: Page) -> None:
    make_user("eva1", Role.EVALUATOR, unit="RST", name="评估一")
    make_user("expert", Role.EVALUATOR, unit="ZJ", name="专家")
    plan_id = publish(api_as, plan_payload(indicators=TREE, evaluators=EVALUATORS))
    for obj in ("GAT", "CS"):   # the expert scores through the API
        for body in ({"indicator": "A1", "score": 9}, {"indicator": "A2", "grade": "好"},
                     {"indicator": "B", "deductions": []}):
            assert api_as("expert").post(f"/plans/{plan_id}/scores", {"object": obj, **body}).status_code == 201

    page.set_viewport_size({"width": 1400, "height": 900})
    login(page, live_server, "eva1")
    page.get_by_role("link", name="考核评分").first.click()          # the inbox task opens the grid
    expect(page.get_by_role("heading", name="评分表")).to_be_visible()
    grid = page.locator("table.score-grid")
    first_row = grid.locator("tbody tr").first
    first_row.locator("input[type=number]").fill("8.5")
    first_row.locator("select").select_option("中")
    page.get_by_role("button", name="保存草稿").click()
    expect(page.get_by_text("草稿已保存")).to_be_visible()
    expect(first_row.locator("td.cell-draft").first).to_be_visible()

    page.get_by_role("button", name="提交评分").click()                 # the second object is still empty
    expect(page.get_by_text("提交前须填写此项").first).to_be_visible()
    shot(page, "score-grid-errors")

    second_row = grid.locator("tbody tr").nth(1)
    second_row.locator("input[type=number]").fill("12")   # over full marks: the browser itself refuses it
    second_row.locator("select").select_option("好")
    second_row.locator("details.deductions summary").click()
    second_row.get_by_label("未按时上报").check()
    expect(second_row.locator(".deduction-score")).to_have_text("15")
    assert second_row.locator("input[type=number]").evaluate("e => e.validity.rangeOverflow")
    second_row.locator("input[type=number]").fill("7")
    page.get_by_role("button", name="提交评分").click()
    expect(page.get_by_text("评分已提交")).to_be_visible()
    expect(page.get_by_text("评分任务已完成")).to_be_visible()
    shot(page, "score-grid-submitted")
    logout(page)

    login(page, live_server, "manager")
    page.get_by_role("link", name="组待办", exact=True).click()
    page.get_by_role("link", name="发布初步结果").first.click()
    expect(page.get_by_text("可以发布")).to_be_visible()
    shot(page, "results-publish")
    page.get_by_role("button", name="发布初步结果").click()
    expect(page.get_by_text("初步结果已发布，申诉期已开始。")).to_be_visible()


def test_indicator_change_in_the_browser(people, api_as, live_server: str, page: Page) -> None:  # noqa: F811
    plan_id = publish(api_as, plan_payload(indicators=TREE))
    page.set_viewport_size({"width": 1400, "height": 900})
    login(page, live_server, "manager")
    page.goto(f"{live_server}/plans/{plan_id}")
    page.get_by_role("link", name="申请指标变更").click()
    page.get_by_label("A1 权重").fill("70")
    page.get_by_label("A2 权重").fill("20")                      # sums to 90: refused, shown, nothing started
    page.get_by_label("变更理由").fill("本年度更重视响应时效")
    page.get_by_role("button", name="提交变更审核").click()
    expect(page.get_by_text("权重之和为 90")).to_be_visible()
    page.get_by_label("A2 权重").fill("30")
    page.get_by_role("button", name="提交变更审核").click()
    expect(page.get_by_text("变更申请已提交审核")).to_be_visible()
    logout(page)

    login(page, live_server, "reviewer")
    page.get_by_role("link", name="组待办", exact=True).click()
    page.get_by_role("link", name="审核指标变更").first.click()
    expect(page.get_by_text("本年度更重视响应时效")).to_be_visible()
    shot(page, "indicator-change-review")
    page.get_by_label("通过", exact=True).check()
    page.get_by_role("button", name="提交").click()
    page.goto(f"{live_server}/plans/{plan_id}")
    expect(page.get_by_text("v2 当前")).to_be_visible()
    page.get_by_role("link", name="v1").click()
    expect(page.get_by_text("这是计划的历史版本")).to_be_visible()
    shot(page, "plan-version-1")


def test_editor_scoring_settings_in_the_browser(people, live_server: str, page: Page) -> None:  # noqa: F811
    page.set_viewport_size({"width": 1400, "height": 900})
    login(page, live_server, "manager")
    page.goto(f"{live_server}/plans/new")
    row = page.locator("#indicators tbody tr[data-row]").first
    row.locator("summary").click()
    expect(row.get_by_label("录入方式")).to_be_visible()
    expect(row.get_by_label("数据源")).to_be_hidden()              # a manual row shows the manual settings only
    row.get_by_label("录入方式").select_option("grades")
    row.get_by_label("选项（每行一项：名称=分值；分段为 下限=得分）").fill("好=100\n中=60\n差=20")
    shot(page, "plan-editor-settings")
    row.get_by_label("评分方式").select_option("auto")
    expect(row.get_by_label("数据源")).to_be_visible()
    expect(row.get_by_label("录入方式")).to_be_hidden()
    page.get_by_role("button", name="添加指标").click()
    added = page.locator("#indicators tbody tr[data-row]").nth(1)
    expect(added.locator("details")).not_to_have_attribute("open", "")
    assert added.locator("textarea").input_value() == ""


def test_plan_from_a_template_in_the_browser(people, live_server: str, page: Page) -> None:  # noqa: F811
    page.set_viewport_size({"width": 1400, "height": 900})
    login(page, live_server, "manager")
    page.goto(f"{live_server}/plans/new")
    page.on("dialog", lambda dialog: dialog.accept())
    page.get_by_role("link", name="需求侧评估", exact=False).click()
    expect(page.get_by_text("已载入模板")).to_be_visible()
    rows = page.locator("#indicators tbody tr[data-row]")
    assert rows.count() > 10
    expect(page.locator("#weight-sums")).to_contain_text("✓")
    expect(page.locator("#weight-sums")).not_to_contain_text("应为 100")
    page.get_by_label("计划名称").fill("2027年度需求侧评估")
    page.locator("#period_start").fill("2027-01-01")
    page.locator("#period_end").fill("2027-12-31")
    page.locator("#evaluators tbody tr[data-row]").first.get_by_label("评估人").fill("evaluator")
    page.locator("#evaluators tbody tr[data-row]").first.get_by_label("权重").fill("100")
    page.get_by_label("单位GAT").check()
    shot(page, "plan-editor-template")
    page.get_by_role("button", name="保存草稿").click()
    expect(page.get_by_text("计划草稿已保存")).to_be_visible()
