"""Playwright drives Debian's Chromium through the real pages: login → plan → inbox → review → approve.

Screenshots land in tests/_artifacts/ for a person to look at.
"""
from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Page, expect
from werkzeug.serving import make_server

from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]
ARTIFACTS = Path(__file__).parent / "_artifacts"


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict) -> dict:  # type: ignore[type-arg]
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: install Debian's chromium (tools/system-packages.sh)")
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


@pytest.fixture
def live_server(app: Flask) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(5)


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def login(page: Page, base: str, username: str) -> None:
    page.goto(base + "/login")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_role("link", name="我的待办").first).to_be_visible()


def logout(page: Page) -> None:
    page.get_by_role("button", name="退出").click()


def test_plan_review_round_trip_in_the_browser(people, live_server: str, page: Page) -> None:
    base = live_server
    page.set_viewport_size({"width": 1400, "height": 900})

    # The manager drafts a plan in the editor; the first attempt has a weight error shown in place.
    login(page, base, "manager")
    page.get_by_role("link", name="考核计划").click()
    page.get_by_role("link", name="制定计划").click()
    page.get_by_label("计划名称").fill("2027年度运维服务绩效考核计划")
    page.locator("#period_start").fill("2027-01-01")
    page.locator("#period_end").fill("2027-12-31")
    rows = [("A", "", "服务质量", "60"), ("A1", "A", "响应及时率", "50"), ("A2", "A", "服务态度", "40"),
            ("B", "", "系统运行", "40")]
    for i, (code, parent, name, weight) in enumerate(rows):
        if i:
            page.get_by_role("button", name="添加指标").click()
        row = page.locator("#indicators tbody tr[data-row]").nth(i)
        row.get_by_label("编码", exact=True).fill(code)
        row.get_by_label("上级编码").fill(parent)
        row.get_by_label("指标名称").fill(name)
        row.get_by_label("权重", exact=True).fill(weight)
    expect(page.locator("#weight-sums")).to_contain_text("A 的下级：90（应为 100）")
    page.locator("input[name=objects]").first.check()
    page.get_by_role("button", name="保存草稿").click()
    expect(page.get_by_text("「服务质量」的下级指标权重之和为 90，应为 100。")).to_be_visible()
    shot(page, "01-plan-editor-errors")
    page.locator("#indicators tbody tr[data-row]").nth(2).get_by_label("权重", exact=True).fill("50")
    page.get_by_role("button", name="保存草稿").click()
    expect(page.get_by_text("计划草稿已保存。")).to_be_visible()
    page.get_by_role("button", name="提交审核").click()
    expect(page.get_by_text("已提交审核。")).to_be_visible()
    logout(page)

    # The reviewer finds it in 组待办, returns it without a comment first (error in place), then with one.
    login(page, base, "reviewer")
    page.get_by_role("link", name="组待办").first.click()
    expect(page.get_by_role("link", name="审核考核计划")).to_be_visible()
    shot(page, "02-inbox-candidate")
    page.get_by_role("link", name="审核考核计划").click()
    page.get_by_label("退回修改").check()
    page.get_by_role("button", name="提交").click()
    expect(page.get_by_text("此种情况下必须填写此项。")).to_be_visible()
    shot(page, "03-task-validation")
    page.get_by_label("审核意见").fill("A2 服务态度的评估标准请写明回访比例。")
    page.get_by_role("button", name="提交").click()
    expect(page.locator("#diagram[data-rendered=true]")).to_be_attached(timeout=10000)
    expect(page.get_by_text("A2 服务态度的评估标准请写明回访比例。")).to_be_visible()
    logout(page)

    # The author revises in the same instance: the task is already in 我的待办.
    login(page, base, "manager")
    page.get_by_role("link", name="修改考核计划").click()
    page.get_by_label("修改说明").fill("已补充回访比例。")
    page.get_by_role("button", name="提交").click()
    logout(page)

    login(page, base, "reviewer")
    page.get_by_role("link", name="组待办").first.click()
    page.get_by_role("link", name="审核考核计划").click()
    page.get_by_label("通过").check()
    page.get_by_role("button", name="提交").click()
    expect(page.locator("#diagram[data-rendered=true]")).to_be_attached(timeout=10000)
    expect(page.get_by_text("流程结束")).to_be_visible()
    expect(page.locator(".djs-element.step-completed")).not_to_have_count(0)
    shot(page, "04-instance-completed")
    page.get_by_role("link", name="已办").first.click()
    expect(page.get_by_role("link", name="审核考核计划")).to_have_count(2)
    shot(page, "05-inbox-done")
    logout(page)

    login(page, base, "manager")
    page.get_by_role("link", name="考核计划").click()
    page.get_by_role("link", name="2027年度运维服务绩效考核计划").click()
    expect(page.get_by_text("已发布").first).to_be_visible()
    expect(page.get_by_role("link", name="修改计划")).to_have_count(0)
    shot(page, "06-plan-published")


def test_instance_page_marks_the_current_step(people, api_as, live_server: str, page: Page) -> None:
    from tests.conftest import plan_payload
    manager = api_as("manager")
    plan_id = manager.post("/plans", plan_payload()).json["id"]
    instance_id = manager.post(f"/plans/{plan_id}/submit").json["instance_id"]
    page.set_viewport_size({"width": 1400, "height": 900})
    login(page, live_server, "reviewer")
    page.goto(f"{live_server}/instances/{instance_id}")
    expect(page.locator("#diagram[data-rendered=true]")).to_be_attached(timeout=10000)
    expect(page.locator('.djs-element.step-current[data-element-id="review_plan"]')).to_have_count(1)
    expect(page.locator('.djs-element.step-completed[data-element-id="start"]')).to_have_count(1)
    shot(page, "07-instance-current-step")


def fill(page: Page, fields: dict[str, str]) -> None:
    for label, value in fields.items():
        page.get_by_label(label).fill(value)


def test_data_sources_in_the_browser(people, api_as, source_server, live_server: str, page: Page) -> None:
    """A manager adds a JSON source with a secret header, collects (ok, then failed), and a CSV source by upload."""
    good = {"data": {"items": [{"unit": "GAT", "rate": "98.5"}, {"unit": "CS", "rate": 91}]}}
    url = source_server.answer("/api/rates", good)
    page.set_viewport_size({"width": 1400, "height": 900})
    login(page, live_server, "manager")
    page.get_by_role("link", name="数据源").click()
    fill(page, {"名称": "好差评", "地址": "file:///etc/passwd", "单位编码字段": "unit", "数值字段": "rate",
                "认证头（可选）": "Authorization: Bearer browser-s3cret"})
    page.get_by_role("button", name="添加").click()
    expect(page.get_by_text("只支持 http:// 或 https:// 地址。")).to_be_visible()
    expect(page.get_by_label("认证头（可选）")).to_have_value("")      # write-only: never sent back
    shot(page, "08-datasource-form-error")
    fill(page, {"地址": url, "记录路径": "data.items", "认证头（可选）": "Authorization: Bearer browser-s3cret",
                "定时采集（分钟）": "30"})
    page.get_by_role("button", name="添加").click()
    expect(page.get_by_text("已添加数据源 好差评。")).to_be_visible()
    expect(page.get_by_text("已设置")).to_be_visible()

    page.get_by_role("button", name="立即采集").click()
    expect(page.get_by_text("好差评：采集成功，读取 2 条记录。")).to_be_visible()
    assert source_server.hits("/api/rates")[0]["authorization"] == "Bearer browser-s3cret"
    bad = [{"unit": "GAT", "rate": "n/a"}, {"unit": "GAT", "rate": 1}]
    source_server.answer("/api/rates", {"data": {"items": bad}})
    page.get_by_role("button", name="立即采集").click()
    expect(page.get_by_text("采集失败，共 2 个问题").first).to_be_visible()
    runs = page.locator("#runs tbody tr")
    expect(runs).to_have_count(2)
    expect(runs.nth(0)).to_contain_text("失败")
    expect(runs.nth(0)).to_contain_text("第 2 条记录：对象 GAT 重复（第 1 条记录已有）。")
    expect(runs.nth(1)).to_contain_text("成功")
    expect(page.get_by_text("98.5")).to_be_visible()               # the good values stay in force
    assert "browser-s3cret" not in page.content()
    shot(page, "09-datasource-run-log")

    page.get_by_role("link", name="« 数据源").click()
    page.get_by_label("类型").select_option("csv")
    fill(page, {"名称": "办件表", "单位编码字段": "单位编码", "数值字段": "办结率"})
    page.get_by_role("button", name="添加").click()
    expect(page.get_by_text("已添加数据源 办件表。")).to_be_visible()
    page.get_by_label("CSV 文件").set_input_files(files=[{
        "name": "办结率.csv", "mimeType": "text/csv",
        "buffer": "单位编码,单位名称,办结率\r\nGAT,省公安厅,97.6\r\nCS,长沙市,99\r\n".encode("gb18030")}])
    page.get_by_role("button", name="上传", exact=True).click()
    expect(page.get_by_text("已上传文件。")).to_be_visible()
    page.get_by_role("button", name="立即采集").click()
    expect(page.get_by_text("办件表：采集成功，读取 2 条记录。")).to_be_visible()
    expect(page.get_by_text("97.6")).to_be_visible()
    shot(page, "10-datasource-csv-upload")
    page.get_by_role("link", name="« 数据源").click()
    expect(page.locator("table").first).to_contain_text("每 30 分钟")
    shot(page, "11-datasource-list")

    # A published plan whose automatic indicator names 好差评 gets a 采集数据 button.
    from tests.conftest import plan_payload
    tree = [{"code": "A", "name": "好评率", "weight": 100, "method": "auto", "max_score": 100,
             "source": {"datasource": "好差评", "rule": {"kind": "linear", "worst": 60, "best": 100}}}]
    source_server.answer("/api/rates", good)
    manager = api_as("manager")
    plan_id = manager.post("/plans", plan_payload(indicators=tree, name="好评率考核")).json["id"]
    manager.post(f"/plans/{plan_id}/submit")
    reviewer = api_as("reviewer")
    [task] = reviewer.get("/tasks?scope=candidate").json["items"]
    reviewer.post(f"/tasks/{task['id']}/complete", {"data": {"decision": "approve"}})
    page.goto(f"{live_server}/plans/{plan_id}")
    page.get_by_role("button", name="采集数据").click()
    expect(page.get_by_text("好差评：采集成功，读取 2 条记录。")).to_be_visible()
    shot(page, "12-plan-collect")
    gat = next(r for r in manager.get(f"/plans/{plan_id}/results").json["items"] if r["object"] == "GAT")
    assert gat["total"] == "96.3"     # (98.5 − 60) ÷ 40 = 96.25 → 96.3
def test_results_drill_down_comparison_charts_and_public_page(people, make_unit, make_user, api_as, app,
                                                               live_server: str, page: Page) -> None:
    import sqlalchemy as sa

    from app.database import write_transaction
    from app.extensions import db
    from app.models import Unit
    from tests.conftest import plan_payload, set_results_stage

    with app.app_context(), write_transaction():
        for code, name in (("GAT", "省公安厅"), ("CS", "长沙市")):
            db.session.scalar(sa.select(Unit).where(Unit.code == code)).name = name
    for code, kind, name in (("ZZ", "city", "株洲市"), ("YY", "city", "岳阳市"), ("SWJ", "department", "省卫健委")):
        make_unit(code, kind, name)
    make_user("eva1", "evaluator", unit="RST", name="周评估")
    make_user("eva2", "evaluator", unit="RST", name="吴评估")
    tree = [
        {"code": "A", "name": "服务质量", "weight": 40, "children": [
            {"code": "A1", "name": "响应及时率", "weight": 50, "max_score": 100},
            {"code": "A2", "name": "服务态度", "weight": 50, "max_score": 10}]},
        {"code": "B", "name": "系统运行", "weight": 35, "max_score": 100},
        {"code": "C", "name": "安全管理", "weight": 25, "max_score": 100},
    ]
    objects = ["GAT", "CS", "ZZ", "YY", "SWJ"]
    scorers = {name: api_as(name) for name in ("manager", "reviewer", "reviewer2", "eva1", "eva2")}
    plans: dict[int, int] = {}
    for year, bonus in ((2025, -12), (2026, -5), (2027, 0)):
        payload = plan_payload(name=f"{year}年度运维服务绩效考核计划", period_start=f"{year}-01-01",
                               period_end=f"{year}-12-31", indicators=tree, objects=objects,
                               payment_bands=[{"min": 90, "ratio": 1}, {"min": 75, "ratio": "0.9"},
                                              {"min": 60, "ratio": "0.7"}])
        plan_id = scorers["manager"].post("/plans", payload).json["id"]
        scorers["manager"].post(f"/plans/{plan_id}/submit")
        [task] = scorers["reviewer2"].get("/tasks?scope=candidate&process=plan_approval").json["items"]
        scorers["reviewer2"].post(f"/tasks/{task['id']}/complete", {"data": {"decision": "approve"}})
        for k, obj in enumerate(objects):
            base = 96 - 7 * k + bonus
            for who, delta in (("eva1", 0), ("eva2", -4), ("reviewer", 3)):
                for code, top in (("A1", 100), ("A2", 10), ("B", 100), ("C", 100)):
                    if (obj == "SWJ" and code == "C") or (obj == "CS" and code == "B" and who != "eva1"):
                        continue   # SWJ stays incomplete; only one group scored CS on B (renormalised)
                    value = max(0, min(100, base + delta + (3 if code == "B" else 0) - (6 if code == "C" else 0)))
                    body = {"object": obj, "indicator": code, "score": str(value * top / 100)}
                    assert scorers[who].post(f"/plans/{plan_id}/scores", body).status_code == 201
        plans[year] = plan_id
    set_results_stage(app, plans[2025], "preliminary")
    set_results_stage(app, plans[2026], "final")
    set_results_stage(app, plans[2027], "final", public=True)

    outside: list[str] = []
    page.on("request", lambda r: None if r.url.startswith(live_server) else outside.append(r.url))
    page.set_viewport_size({"width": 1400, "height": 900})
    login(page, live_server, "leader")
    page.get_by_role("link", name="考核计划").click()
    page.get_by_role("link", name="2027年度运维服务绩效考核计划").click()
    page.get_by_role("link", name="考核结果", exact=True).click()
    expect(page.locator("#chart-totals[data-rendered=true]")).to_be_attached(timeout=10000)
    expect(page.locator("#chart-indicators[data-rendered=true]")).to_be_attached(timeout=10000)
    expect(page.locator('tr[data-object="SWJ"]')).to_contain_text("未完成")
    expect(page.locator('tr[data-object="GAT"] td').first).to_have_text("1")
    shot(page, "08-results-table-and-charts")

    page.get_by_role("link", name="长沙市").click()
    expect(page.locator('tr[data-indicator="B"]')).to_contain_text("其余组的权重按比例放大")
    expect(page.get_by_text("评分：周评估（eva1）").first).to_be_visible()
    shot(page, "09-results-drill-down")

    page.get_by_role("link", name="历次结果").click()
    expect(page.locator("#chart-trend[data-rendered=true]")).to_be_attached(timeout=10000)
    expect(page.locator("#unit-results tbody tr")).to_have_count(3)
    shot(page, "10-unit-results-over-time")
    logout(page)

    page.get_by_role("link", name="考核结果公示").click()
    page.get_by_role("link", name="2027年度运维服务绩效考核计划").click()
    expect(page.locator("#chart-totals[data-rendered=true]")).to_be_attached(timeout=10000)
    expect(page.locator("#public-results")).to_contain_text("省公安厅")
    expect(page.get_by_text("周评估")).to_have_count(0)
    shot(page, "11-public-results")
    assert outside == [], f"the pages fetched from elsewhere: {outside}"
