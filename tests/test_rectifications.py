"""整改通知书 (BPMN rectification): issue → the unit's report → verification, return loops, deadlines,
overdue and escalation by the process's own timers."""
from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
import time_machine
from flask import Flask

from app.database import write_transaction
from app.extensions import db
from app.models import HumanTask, ProcessEvent, ProcessInstance, Rectification, TaskStatus, Unit
from app.tasks import sweep_overdue, sweep_timers
from tests.conftest import Api
from tests.docs_helpers import pdftext
from tests.docs_helpers import verify as verify_pdf
from tests.test_chase import events, inbox_of

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOTICE = {"unit": "GAT", "title": "政务服务事项办理超时整改",
          "problems": "1. 12件事项超期办结。\n2. 好差评差评未回访。",
          "requirements": "逐件说明原因，建立超期预警机制。"}


def issue(api_as: Callable[[str], Api], **overrides: Any) -> dict[str, Any]:
    payload = {**NOTICE, "deadline_days": 5, **overrides}
    response = api_as("manager").post("/rectifications", payload)
    assert response.status_code == 201, response.json
    return dict(response.json)


def open_task(app: Flask, instance_id: int) -> HumanTask:
    with app.app_context():
        task = db.session.scalar(sa.select(HumanTask).where(HumanTask.instance_id == instance_id,
                                                            HumanTask.status == TaskStatus.OPEN))
        assert task is not None
        return task


def complete(api: Api, task_id: int, data: dict[str, Any]) -> Any:
    return api.post(f"/tasks/{task_id}/complete", {"data": data})


def notice(api: Api, rect_id: int) -> dict[str, Any]:
    response = api.get(f"/rectifications/{rect_id}")
    assert response.status_code == 200, response.json
    return dict(response.json)


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=SHANGHAI)


# ----------------------------------------------------------------------------- the whole case

def test_issue_report_and_approve_through_the_api_and_the_pages(people, make_user, api_as, app, client, login,
                                                                tmp_path):
    make_user("unit_cs", "assessed_unit", unit="CS")
    created = issue(api_as)
    rect_id, instance_id = created["id"], created["instance_id"]
    assert inbox_of(app, "unit_gat") == [("rectification", "整改通知：政务服务事项办理超时整改")]

    # The unit's task is offered to that unit only, with the notice's deadline.
    task = open_task(app, instance_id)
    assert (task.bpmn_id, task.candidate_unit_id is not None) == ("rectify_report", True)
    assert task.due_at is not None and task.due_at.isoformat() == notice(api_as("manager"), rect_id)["deadline"]
    assert [t["id"] for t in api_as("unit_gat").get("/tasks?scope=candidate").json["items"]] == [task.id]

    # Its task page shows the notice beside the form; the unit answers there.
    login("unit_gat")
    page = client.get(f"/tasks/{task.id}").get_data(as_text=True)
    assert "2. 好差评差评未回访。" in page and "逐件说明原因，建立超期预警机制。" in page
    assert 'name="analysis"' in page and 'name="measures"' in page
    answered = client.post(f"/tasks/{task.id}", data={"analysis": "窗口人员不足，系统未设预警。",
                                                      "measures": "增配2名人员；上线超期预警。"})
    assert answered.status_code == 302
    body = notice(api_as("unit_gat"), rect_id)
    assert (body["status"], body["analysis"], body["measures"]) == (
        "submitted", "窗口人员不足，系统未设预警。", "增配2名人员；上线超期预警。")
    assert inbox_of(app, "manager")[-1] == ("rectification", "整改报告待核验：政务服务事项办理超时整改")
    assert inbox_of(app, "manager2")[-1][1] == "整改报告待核验：政务服务事项办理超时整改"

    verify = open_task(app, instance_id)
    assert verify.bpmn_id == "verify_report"
    assert complete(api_as("manager"), verify.id, {"decision": "approve", "comment": "整改到位"}).status_code == 200
    body = notice(api_as("manager"), rect_id)
    assert body["status"] == "closed" and body["closed_at"] and body["overdue"] is False
    assert inbox_of(app, "unit_gat")[-1] == ("rectification", "整改已通过核验：政务服务事项办理超时整改")
    with app.app_context():
        instance = db.session.get(ProcessInstance, instance_id)
        assert (instance.status, instance.case_status) == ("completed", "closed")

    # On closure the notice and its outcome are archived as a signed PDF, for the office and the unit.
    [item] = api_as("manager").get("/documents?kind=rectification_notice").json["items"]
    assert item["instance_id"] == instance_id
    pdf = api_as("unit_gat").get(f"/documents/{item['id']}/pdf")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    if os.environ.get("SAVE_PDF"):
        Path(os.environ["SAVE_PDF"]).write_bytes(pdf.data)   # to look at the pages
    text = pdftext(pdf.data, tmp_path)
    for expected in ("整改通知书", "政务服务事项办理超时整改", "存在的问题", "窗口人员不足", "增配2名人员",
                     "整改到位", "签署证据页", "验证码"):
        assert expected in text, expected
    checked = verify_pdf(api_as("unit_gat"), pdf.data).json
    assert checked["intact"] is True and checked["valid"] is True and checked["matches_archive"] is True
    assert api_as("unit_cs").get(f"/documents/{item['id']}/pdf").status_code == 403

    # The pages: the list, and the notice with the unit's report and the verification.
    login("manager")
    listing = client.get("/rectifications/").get_data(as_text=True)
    assert "政务服务事项办理超时整改" in listing and "已销号" in listing
    shown = client.get(f"/rectifications/{rect_id}").get_data(as_text=True)
    for text in ("1. 12件事项超期办结。", "增配2名人员；上线超期预警。", "核验整改报告", "整改到位",
                 f"/instances/{instance_id}"):
        assert text in shown
    assert f"/rectifications/{rect_id}" in client.get(f"/instances/{instance_id}").get_data(as_text=True)


def test_the_office_issues_from_the_page(people, client, login, app):
    login("manager")
    assert client.get("/rectifications/new").status_code == 200
    form = {**NOTICE, "deadline_kind": "date", "deadline": "2027-03-31", "deadline_days": "7"}
    refused = client.post("/rectifications/new", data={**form, "title": ""})
    assert refused.status_code == 422 and "不能为空。" in refused.get_data(as_text=True)
    done = client.post("/rectifications/new", data=form)
    assert done.status_code == 302
    with app.app_context():
        rect = db.session.scalars(sa.select(Rectification)).one()
        # the date chosen, not the working days typed into the other box
        assert rect.deadline == at(2027, 3, 31, 23, 59, 59)
        assert done.headers["Location"] == f"/rectifications/{rect.id}"


def test_a_returned_report_goes_back_to_the_unit_with_the_deadline_kept(people, api_as, app, client, login):
    created = issue(api_as)
    rect_id, instance_id = created["id"], created["instance_id"]
    first = open_task(app, instance_id)
    complete(api_as("unit_gat"), first.id, {"analysis": "人手不足", "measures": "加人"})
    verify = open_task(app, instance_id)
    missing = complete(api_as("manager"), verify.id, {"decision": "return"})
    assert missing.status_code == 422 and "comment" in missing.json["errors"]
    assert complete(api_as("manager"), verify.id,
                    {"decision": "return", "comment": "未说明预警机制"}).status_code == 200

    assert notice(api_as("unit_gat"), rect_id)["status"] == "returned"
    kind, title = inbox_of(app, "unit_gat")[-1]
    assert (kind, title) == ("rectification", "整改报告被退回：政务服务事项办理超时整改")
    again = open_task(app, instance_id)
    assert again.bpmn_id == "rectify_report" and again.id != first.id and again.due_at == first.due_at

    # The unit sees why on its task page, and resubmits.
    login("unit_gat")
    assert "未说明预警机制" in client.get(f"/tasks/{again.id}").get_data(as_text=True)
    complete(api_as("unit_gat"), again.id, {"analysis": "人手不足，流程无预警", "measures": "加人；上线预警",
                                            "evidence": "预警系统截图见台账第3页"})
    body = notice(api_as("manager"), rect_id)
    assert (body["status"], body["analysis"], body["measures"]) == (
        "submitted", "人手不足，流程无预警", "加人；上线预警")
    complete(api_as("manager"), open_task(app, instance_id).id, {"decision": "approve"})
    assert notice(api_as("manager"), rect_id)["status"] == "closed"
    page = client.get(f"/rectifications/{rect_id}").get_data(as_text=True)
    assert "未说明预警机制" in page and "预警系统截图见台账第3页" in page and page.count("<summary>") == 2


# ----------------------------------------------------------------------------- deadlines and timers

def test_overdue_and_escalation_come_from_the_timers_when_they_fire(people, api_as, app):
    deadline = at(2027, 1, 15, 23, 59, 59)                 # a Friday
    created = issue(api_as, deadline="2027-01-15", deadline_days=None)
    rect_id, instance_id = created["id"], created["instance_id"]
    assert notice(api_as("manager"), rect_id)["deadline"] == deadline.astimezone(ZoneInfo("UTC")).isoformat()

    fired_at = deadline + timedelta(minutes=3)
    with app.app_context(), time_machine.travel(fired_at, tick=False):
        assert sweep_timers() == 1
        assert sweep_overdue() == 0                           # the timer chased it already
    with app.app_context():
        overdue = db.session.scalars(sa.select(ProcessEvent).where(
            ProcessEvent.instance_id == instance_id, ProcessEvent.type == "overdue")).one()
        assert overdue.at == fired_at and overdue.task_name == "自我分析与整改报告"
    assert inbox_of(app, "unit_gat")[-1] == ("overdue", "逾期催办：自我分析与整改报告")
    assert inbox_of(app, "leader") == []

    # The sweep's own 48-hour escalation leaves this task to the process's timer: 3 working days
    # after the deadline, i.e. Wednesday 2027-01-20 23:59:59.
    with app.app_context(), time_machine.travel(deadline + timedelta(hours=49), tick=False):
        assert sweep_overdue() == 0 and sweep_timers() == 0
    with app.app_context(), time_machine.travel(at(2027, 1, 20, 23, 59, 0), tick=False):
        assert sweep_timers() == 0
    escalated_at = at(2027, 1, 21, 0, 0, 30)
    with app.app_context(), time_machine.travel(escalated_at, tick=False):
        assert sweep_timers() == 1
    with app.app_context():
        escalated = db.session.scalars(sa.select(ProcessEvent).where(
            ProcessEvent.instance_id == instance_id, ProcessEvent.type == "escalated")).one()
        assert escalated.at == escalated_at
    assert inbox_of(app, "leader") == [("escalated", "逾期督办：自我分析与整改报告")]
    with time_machine.travel(escalated_at, tick=False):
        assert notice(api_as("manager"), rect_id)["overdue"] is True

    # Late report, then a return: the task comes back still overdue but is not chased again.
    with time_machine.travel(at(2027, 1, 22, 10), tick=False):
        complete(api_as("unit_gat"), open_task(app, instance_id).id, {"analysis": "迟交", "measures": "补正"})
        assert notice(api_as("manager"), rect_id)["overdue"] is False     # the office's turn now
        complete(api_as("manager"), open_task(app, instance_id).id, {"decision": "return", "comment": "不充分"})
        with app.app_context():
            assert sweep_timers() == 0 and sweep_overdue() == 0
        assert notice(api_as("manager"), rect_id)["overdue"] is True
    back = open_task(app, instance_id)
    assert back.chased_at is not None and back.escalated_at is not None
    assert [e for e in events(app, instance_id) if e[0] in ("overdue", "escalated")] == [
        ("overdue", "自我分析与整改报告"), ("escalated", "自我分析与整改报告")]
    assert [k for k, _ in inbox_of(app, "leader")] == ["escalated"]
    assert [k for k, _ in inbox_of(app, "unit_gat")].count("overdue") == 1


def test_working_days_cross_national_day_and_a_make_up_saturday(people, api_as, app):
    """Issued Tuesday 2026-09-29: 3 working days are 9-30, 10-08, 10-09 (国庆 10-01…07); escalation 3
    working days later counts the 调休 Saturday 10-10: 10-10, 10-12, 10-13."""
    with time_machine.travel(at(2026, 9, 29, 10), tick=False):
        created = issue(api_as, deadline_days=3)
        body = notice(api_as("manager"), created["id"])
    assert datetime.fromisoformat(body["deadline"]).astimezone(SHANGHAI) == at(2026, 10, 9, 23, 59, 59)
    with app.app_context(), time_machine.travel(at(2026, 10, 10, 9), tick=False):
        assert sweep_timers() == 1                                     # overdue
    with app.app_context(), time_machine.travel(at(2026, 10, 13, 23, 59, 58), tick=False):
        assert sweep_timers() == 0
    with app.app_context(), time_machine.travel(at(2026, 10, 14, 0, 0, 1), tick=False):
        assert sweep_timers() == 1                                     # escalated
    assert [e[0] for e in events(app, created["instance_id"]) if e[0] in ("overdue", "escalated")] == [
        "overdue", "escalated"]


def test_an_explicit_date_time_keeps_its_zone(people, api_as):
    created = issue(api_as, deadline="2027-02-01T18:00:00+08:00", deadline_days=None)
    assert notice(api_as("manager"), created["id"])["deadline"] == "2027-02-01T10:00:00+00:00"


@pytest.mark.parametrize(("change", "field"), [
    ({"unit": None}, "unit"), ({"unit": "NOPE"}, "unit"), ({"unit": "OLD"}, "unit"),
    ({"plan": 999}, "plan"), ({"plan": "1"}, "plan"),
    ({"title": "  "}, "title"), ({"title": "长" * 201}, "title"), ({"title": 12}, "title"),
    ({"problems": ""}, "problems"), ({"problems": "x" * 5001}, "problems"),
    ({"requirements": "x" * 5001}, "requirements"),
    ({"deadline_days": None}, "deadline"), ({"deadline": "2027-03-01"}, "deadline"),
    ({"deadline_days": 0}, "deadline_days"), ({"deadline_days": 91}, "deadline_days"),
    ({"deadline_days": "三"}, "deadline_days"), ({"deadline_days": True}, "deadline_days"),
    ({"deadline_days": 2.5}, "deadline_days"),
    ({"deadline_days": None, "deadline": "2027-13-01"}, "deadline"),
    ({"deadline_days": None, "deadline": "2027-03-01T10:00:00"}, "deadline"),
    ({"deadline_days": None, "deadline": "2020-01-01"}, "deadline"),
    ({"deadline_days": None, "deadline": 20270301}, "deadline"),
])
def test_bad_input_is_refused_per_field_and_creates_nothing(people, api_as, app, make_unit, change, field):
    make_unit("OLD")
    with app.app_context(), write_transaction():
        db.session.scalar(sa.select(Unit).where(Unit.code == "OLD")).active = False
    response = api_as("manager").post("/rectifications", {**NOTICE, "deadline_days": 5, **change})
    assert response.status_code == 422, response.json
    assert field in response.json["errors"], response.json
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Rectification)) == 0
        assert db.session.scalar(sa.select(sa.func.count()).select_from(ProcessInstance)) == 0
    assert inbox_of(app, "unit_gat") == []


def test_every_problem_is_reported_at_once(people, api_as):
    response = api_as("manager").post("/rectifications", {"unit": "NOPE", "title": "", "problems": ""})
    assert response.status_code == 422
    assert set(response.json["errors"]) == {"unit", "title", "problems", "deadline"}


# ----------------------------------------------------------------------------- who sees what

def test_only_the_office_issues_and_a_unit_sees_only_its_own_notices(people, api_as, make_user):
    make_user("unit_cs", "assessed_unit", unit="CS")
    for username in ("unit_gat", "reviewer", "leader"):
        refused = api_as(username).post("/rectifications", {**NOTICE, "deadline_days": 5})
        assert refused.status_code == 403
    mine = issue(api_as)["id"]
    theirs = issue(api_as, unit="CS")["id"]
    assert [r["id"] for r in api_as("unit_gat").get("/rectifications").json["items"]] == [mine]
    assert [r["id"] for r in api_as("unit_cs").get("/rectifications").json["items"]] == [theirs]
    assert {r["id"] for r in api_as("admin").get("/rectifications").json["items"]} == {mine, theirs}
    assert api_as("unit_gat").get(f"/rectifications/{theirs}").status_code == 403
    assert api_as("unit_cs").get(f"/rectifications/{mine}").status_code == 403
    assert api_as("leader").get(f"/rectifications/{mine}").status_code == 403
    assert api_as("manager2").get(f"/rectifications/{mine}").status_code == 200
    assert api_as("manager").get("/rectifications/99999").status_code == 404
