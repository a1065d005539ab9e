"""Playwright: a change order filed on its page, signed off by every party from the inbox, its signed
工程变更单 in the archive and checked on the verify page; minutes drafted with action items and the
follow-ups closed. Screenshots land in tests/_artifacts/."""
from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.docs_helpers import act
from tests.test_browser import browser_type_launch_args, live_server, login, logout, shot  # noqa: F401
from tests.test_meetings import meeting_payload

pytestmark = pytest.mark.browser


def sign_off_in_the_inbox(page: Page, base: str, username: str, task_name: str, opinion: str) -> None:
    login(page, base, username)
    page.get_by_role("link", name="组待办").first.click()
    page.get_by_role("link", name=task_name).first.click()
    expect(page.get_by_text("变更原因：")).to_be_visible()      # the change order is shown beside the form
    page.get_by_label("同意", exact=False).first.check()
    page.locator("textarea[name=opinion]").fill(opinion)
    page.get_by_role("button", name="提交").click()
    logout(page)


def test_change_order_from_filing_to_the_verified_pdf(doc_cast, api_as, live_server: str,  # noqa: F811
                                                     page: Page, tmp_path: Path) -> None:
    base = live_server
    page.set_viewport_size({"width": 1400, "height": 900})
    login(page, base, "contractor")
    page.get_by_role("link", name="工程变更").click()
    page.get_by_role("link", name="提出变更申请").click()
    page.get_by_label("变更名称").fill("机房精密空调改造")
    page.get_by_label("项目名称").fill("省政务云平台扩容工程")
    page.get_by_label("合同金额（元）").fill("4800000")
    page.get_by_label("本次变更金额（元）").fill("abc")
    page.get_by_label("变更原因").fill("原设计精密空调制冷量不足，夏季机房温度超过 27℃。")
    page.get_by_label("变更内容").fill("一、更换两台精密空调；\n二、增加冷通道封闭。")
    page.get_by_label("监理单位").select_option("JL")
    page.get_by_label("建设单位").select_option("SJ")
    page.get_by_role("button", name="提交，发起各方会勘").click()
    expect(page.get_by_text("须为数字（元）。")).to_be_visible()          # the error is shown in place
    shot(page, "change_order_new_error")
    page.get_by_label("本次变更金额（元）").fill("386000")
    page.get_by_role("button", name="提交，发起各方会勘").click()
    expect(page.get_by_role("heading", name="工程变更 BG-")).to_be_visible()
    shot(page, "change_order_surveying")
    instance_id = int(page.get_by_role("link", name="查看流程与历史").get_attribute("href").rsplit("/", 1)[1])
    page.get_by_role("link", name="查看流程与历史").click()
    expect(page.locator(".djs-element[data-element-id=survey]")).to_be_visible()   # the drawn BPMN diagram
    shot(page, "change_order_instance")
    logout(page)

    sign_off_in_the_inbox(page, base, "supervisor", "各方会勘确认", "已现场会勘，同意")
    for who in ("contractor", "owner"):
        act(api_as(who), instance_id, "survey", {"decision": "agree"})
    act(api_as("owner"), instance_id, "owner_review", {"decision": "agree", "opinion": "确认实施"})
    for who in ("contractor", "owner"):
        act(api_as(who), instance_id, "sign", {"decision": "agree", "opinion": "同意实施"})
    login(page, base, "supervisor")
    page.get_by_role("link", name="组待办").first.click()
    page.get_by_role("link", name="各方会签工程变更单").first.click()
    shot(page, "change_order_sign_task")
    page.get_by_label("同意签署").check()
    page.locator("textarea[name=opinion]").fill("监理同意")
    page.get_by_role("button", name="提交").click()

    page.get_by_role("link", name="文档归档").click()
    expect(page.get_by_role("link", name="工程变更单 BG-")).to_be_visible()
    shot(page, "documents_index")
    page.get_by_role("link", name="工程变更单 BG-").click()
    expect(page.get_by_text("已归档")).to_be_visible()
    shot(page, "document_show")
    with page.expect_download() as download:
        page.get_by_role("link", name="下载").click()
    pdf_path = tmp_path / "co.pdf"
    download.value.save_as(pdf_path)

    logout(page)
    page.goto(base + "/verify")                 # public: no login
    page.locator("input[type=file]").set_input_files(str(pdf_path))
    page.get_by_role("button", name="验证").click()
    expect(page.get_by_text("文件完整有效，与归档文件一致。")).to_be_visible()
    shot(page, "verify_result")


def test_minutes_drafted_with_action_items_and_followed_up(doc_cast, api_as, live_server: str,  # noqa: F811
                                                          page: Page) -> None:
    base = live_server
    created = api_as("owner").post("/meetings", meeting_payload()).json
    page.set_viewport_size({"width": 1400, "height": 900})
    login(page, base, "supervisor")
    page.get_by_role("link", name="起草会议纪要").first.click()
    page.get_by_label("会议情况").fill("会议通报了一季度平台运行情况。\n与会各方就机房空调改造进行了讨论。")
    page.get_by_label("议定事项（每行一项）").fill("同意启动机房精密空调改造。\n监理单位加强夏季巡检。")
    row = page.locator("tbody tr").first
    row.get_by_label("事项").fill("提交空调改造变更申请")
    row.get_by_label("责任人").select_option("contractor")
    row.get_by_label("完成时限").fill("2027-03-20")
    shot(page, "minutes_draft")
    page.get_by_role("button", name="提交参会人员确认").click()
    expect(page.get_by_text("纪要已提交")).to_be_visible()
    logout(page)
    for who in ("contractor", "supervisor", "owner"):
        act(api_as(who), created["instance_id"], "confirm", {"decision": "agree"})
    act(api_as("owner"), created["instance_id"], "archive", {})
    login(page, base, "owner")
    page.get_by_role("link", name="项目会议").click()
    page.get_by_role("link", name="2027年第一季度运维工作例会").click()
    expect(page.get_by_text("已归档").first).to_be_visible()
    shot(page, "meeting_show")
    logout(page)
    login(page, base, "contractor")
    page.goto(base + "/action-items?mine=1")
    shot(page, "action_items")
    page.get_by_label("办结说明").fill("已提交 BG-2027-0001")
    page.get_by_role("button", name="办结").click()
    expect(page.get_by_text("已办结。")).to_be_visible()
