"""Who may take which task, as the process and the organisation change."""
from __future__ import annotations

import sqlalchemy as sa

from app.database import write_transaction
from app.extensions import db
from app.models import HumanTask, Role, User
from app.services import accounts
from tests.conftest import plan_payload


def submitted(api_as, author: str = "manager") -> tuple[int, int]:
    api = api_as(author)
    plan_id = api.post("/plans", plan_payload()).json["id"]
    api.post(f"/plans/{plan_id}/submit")
    return plan_id, api.get(f"/plans/{plan_id}").json["instance_id"]


def review_task_id(app, instance_id: int) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(HumanTask.id).where(HumanTask.instance_id == instance_id))


def test_an_author_who_is_also_a_reviewer_cannot_review_their_own_plan(people, make_user, api_as, app):
    make_user("both", Role.ASSESSMENT_MANAGER, Role.REVIEWER, name="兼任者")
    plan_id, instance_id = submitted(api_as, "both")
    task_id = review_task_id(app, instance_id)
    author = api_as("both")
    assert author.get("/tasks?scope=candidate").json["items"] == []
    assert author.post(f"/tasks/{task_id}/claim").status_code == 403
    assert author.post(f"/tasks/{task_id}/complete", {"data": {"decision": "approve"}}).status_code == 403
    assert api_as("reviewer").post(f"/tasks/{task_id}/complete", {"data": {"decision": "approve"}}).status_code == 200
    assert author.get(f"/plans/{plan_id}").json["status"] == "published"


def test_a_claim_lapses_when_the_holder_loses_the_role(people, api_as, app):
    _, instance_id = submitted(api_as)
    task_id = review_task_id(app, instance_id)
    assert api_as("reviewer").post(f"/tasks/{task_id}/claim").status_code == 200
    reviewer_api = api_as("reviewer")
    with app.app_context(), write_transaction():
        user = db.session.scalar(sa.select(User).where(User.username == "reviewer"))
        accounts.update_user(user, user.name, [Role.EVALUATOR], "KHB", True)
    assert reviewer_api.post(f"/tasks/{task_id}/complete", {"data": {"decision": "approve"}}).status_code == 403
    task = reviewer_api.get(f"/instances/{instance_id}").json["tasks"][0]
    assert task["assignee"] is None     # given back to the group
    other = api_as("reviewer2")
    assert other.post(f"/tasks/{task_id}/complete", {"data": {"decision": "approve"}}).status_code == 200
    events = other.get(f"/instances/{instance_id}").json["events"]
    assert any(e["type"] == "released" and "角色或单位已变更" in (e["comment"] or "") for e in events)


def test_nobody_but_an_admin_may_release_an_unclaimed_task(people, api_as, app):
    _, instance_id = submitted(api_as)
    task_id = review_task_id(app, instance_id)
    assert api_as("reviewer").post(f"/tasks/{task_id}/unclaim").status_code == 403
    assert api_as("admin").post(f"/tasks/{task_id}/unclaim").status_code == 200


def test_weights_come_back_as_plain_numbers(people, api_as):
    plan = api_as("manager").post("/plans", plan_payload()).json
    assert plan["indicators"][0]["weight"] == "60" and plan["evaluators"][0]["weight"] == "70"
    assert plan["indicators"][0]["children"][1]["max_score"] == "10"


def test_an_absurd_max_score_is_a_field_error_not_a_crash(people, api_as):
    payload = plan_payload()
    payload["indicators"][1]["max_score"] = "1e12"
    payload["indicators"][1]["weight"] = "400"
    response = api_as("manager").post("/plans", payload)
    assert response.status_code == 422
    assert "不能超过" in response.json["errors"]["indicators[1].max_score"][0]
    assert "不能超过" in response.json["errors"]["indicators[1].weight"][0]


def test_the_inbox_follows_a_renamed_plan(people, api_as):
    manager, reviewer = api_as("manager"), api_as("reviewer")
    plan_id, _ = submitted(api_as)
    task = reviewer.get("/tasks?scope=candidate").json["items"][0]
    reviewer.post(f"/tasks/{task['id']}/complete", {"data": {"decision": "return", "comment": "改名"}})
    assert manager.put(f"/plans/{plan_id}", plan_payload(name="2027年度运维考核计划（修订）")).status_code == 200
    [mine] = manager.get("/tasks?scope=mine&q=修订").json["items"]
    assert mine["title"] == "2027年度运维考核计划（修订）"


def editor_form(rows: list[tuple[str, str, str, str]]) -> dict[str, str]:
    form = {"name": "编辑器计划", "cycle": "year", "period_start": "2027-01-01", "period_end": "2027-12-31",
            "ev-0-kind": "role", "ev-0-ref": "evaluator", "ev-0-weight": "100", "objects": "GAT"}
    for i, (code, parent, name, weight) in enumerate(rows):
        form.update({f"ind-{i}-code": code, f"ind-{i}-parent": parent, f"ind-{i}-name": name,
                     f"ind-{i}-weight": weight, f"ind-{i}-method": "manual", f"ind-{i}-max_score": "100"})
    return form


def test_the_editor_reports_unknown_and_looping_parents_instead_of_moving_rows(people, login, client, api_as):
    login("manager")
    unknown = client.post("/plans/new", data=editor_form([("A", "", "服务质量", "100"), ("A1", "AX", "响应", "100")]))
    assert unknown.status_code == 422 and "上级编码 AX 不存在" in unknown.data.decode()
    looping = client.post("/plans/new", data=editor_form([("X", "Y", "甲", "100"), ("Y", "X", "乙", "100")]))
    assert looping.status_code == 422 and "上级编码形成循环" in looping.data.decode()
    assert api_as("manager").get("/plans").json["items"] == []
    fine = client.post("/plans/new", data=editor_form([("A", "", "服务质量", "100"), ("A1", "A", "响应", "100")]))
    assert fine.status_code == 302


def test_a_lapsed_claim_release_is_credited_to_the_admin_and_spares_finished_tasks(people, api_as, app):
    _, instance_id = submitted(api_as)
    task_id = review_task_id(app, instance_id)
    reviewer = api_as("reviewer")
    reviewer.post(f"/tasks/{task_id}/claim")
    reviewer.post(f"/tasks/{task_id}/complete", {"data": {"decision": "return", "comment": "请修改"}})
    with app.app_context(), write_transaction():
        admin = db.session.scalar(sa.select(User).where(User.username == "admin"))
        user = db.session.scalar(sa.select(User).where(User.username == "reviewer"))
        accounts.update_user(user, user.name, [Role.EVALUATOR], "KHB", True, actor=admin)
    events = api_as("manager").get(f"/instances/{instance_id}").json["events"]
    assert [e for e in events if e["type"] == "released"] == []      # the completed review is untouched
    with app.app_context():
        task = db.session.get(HumanTask, task_id)
        assert task.status == "completed" and task.assignee_id is not None


def test_a_spec_version_stored_before_forms_were_versioned_still_works(people, api_as, app):
    from app.models import ProcessSpec
    _, instance_id = submitted(api_as)
    task_id = review_task_id(app, instance_id)
    with app.app_context(), write_transaction():
        for row in db.session.scalars(sa.select(ProcessSpec)):
            row.content_hash = "legacy-" + row.content_hash[:20]
            row.forms_json = None
    reviewer = api_as("reviewer")
    assert reviewer.get(f"/tasks/{task_id}").status_code == 200
    assert reviewer.post(f"/tasks/{task_id}/complete", {"data": {"decision": "approve"}}).status_code == 200


def test_the_editor_keeps_and_edits_payment_bands(people, login, client, api_as):
    manager = api_as("manager")
    plan_id = manager.post("/plans", plan_payload(payment_bands=[{"min": 90, "ratio": 1}, {"min": 60, "ratio": "0.8"}])
                           ).json["id"]
    login("manager")
    page = client.get(f"/plans/{plan_id}/edit").data.decode()
    assert 'name="band-0-min" value="90"' in page and 'name="band-1-ratio" value="0.8"' in page
    form = editor_form([("A", "", "服务质量", "100")])
    form.update({"band-0-min": "90", "band-0-ratio": "1", "band-1-min": "75", "band-1-ratio": "0.85"})
    assert client.post(f"/plans/{plan_id}/edit", data=form).status_code == 302
    assert manager.get(f"/plans/{plan_id}").json["payment_bands"] == [{"min": "90", "ratio": "1"},
                                                                      {"min": "75", "ratio": "0.85"}]
    assert "总分 ≥ 75：支付 0.85" in client.get(f"/plans/{plan_id}").data.decode()
