"""Plan approval end to end through the API: draft, submit, return, revise, approve, publish."""
from __future__ import annotations

from typing import Any

from tests.conftest import plan_payload


def open_task(api: Any, scope: str = "candidate", process: str = "plan_approval") -> dict[str, Any]:
    items = api.get(f"/tasks?scope={scope}&process={process}").json["items"]
    assert len(items) == 1, items
    return items[0]


def test_return_revise_and_approve_publishes_the_plan(people, api_as):
    manager, reviewer = api_as("manager"), api_as("reviewer")
    created = manager.post("/plans", plan_payload())
    assert created.status_code == 201
    plan_id = created.json["id"]
    assert created.json["status"] == "draft" and created.json["version"] == 1

    submitted = manager.post(f"/plans/{plan_id}/submit")
    assert submitted.status_code == 201
    instance_id = submitted.json["instance_id"]
    assert manager.get(f"/plans/{plan_id}").json["status"] == "in_review"

    review = open_task(reviewer)
    assert review["name"] == "审核考核计划" and review["instance_id"] == instance_id
    assert review["due_at"] is not None
    returned = reviewer.post(f"/tasks/{review['id']}/complete",
                             {"data": {"decision": "return", "comment": "A2 的满分应为 100"}})
    assert returned.status_code == 200, returned.json
    assert manager.get(f"/plans/{plan_id}").json["status"] == "returned"
    assert open_task(reviewer)["id"] if False else True  # noqa: SIM210 (reviewer has nothing open now)
    assert reviewer.get("/tasks?scope=candidate").json["items"] == []

    # The revise task is the author's, in the same instance.
    revise = open_task(manager, scope="mine")
    assert revise["name"] == "修改考核计划" and revise["instance_id"] == instance_id
    assert revise["assignee"] == "manager"
    fixed = plan_payload()
    fixed["indicators"][0]["children"][1]["max_score"] = 100
    assert manager.put(f"/plans/{plan_id}", fixed).status_code == 200
    assert manager.post(f"/tasks/{revise['id']}/complete",
                        {"data": {"comment": "已按意见修改满分"}}).status_code == 200
    assert manager.get(f"/plans/{plan_id}").json["status"] == "in_review"

    second = open_task(reviewer)
    approved = reviewer.post(f"/tasks/{second['id']}/complete", {"data": {"decision": "approve"}})
    assert approved.status_code == 200
    assert approved.json["status"] == "completed"
    plan = manager.get(f"/plans/{plan_id}").json
    assert plan["status"] == "published" and plan["published_at"]

    history = manager.get(f"/instances/{instance_id}").json["events"]
    completed = [(e["user"], e["task"], e["decision"], e["comment"]) for e in history if e["type"] == "completed"]
    assert completed == [
        ("reviewer", "审核考核计划", "return", "A2 的满分应为 100"),
        ("manager", "修改考核计划", None, "已按意见修改满分"),
        ("reviewer", "审核考核计划", "approve", None),
    ]
    assert history[0]["type"] == "started" and history[-1]["type"] == "instance_completed"


def test_published_plan_is_read_only_and_cannot_be_resubmitted(people, api_as):
    manager, reviewer = api_as("manager"), api_as("reviewer")
    plan_id = manager.post("/plans", plan_payload()).json["id"]
    manager.post(f"/plans/{plan_id}/submit")
    again = manager.post(f"/plans/{plan_id}/submit")
    assert again.status_code == 409 and "草稿" in again.json["error"]
    edit = manager.put(f"/plans/{plan_id}", plan_payload(name="改名"))
    assert edit.status_code == 409
    task = open_task(reviewer)
    reviewer.post(f"/tasks/{task['id']}/complete", {"data": {"decision": "approve", "comment": "同意"}})
    assert manager.put(f"/plans/{plan_id}", plan_payload(name="改名")).status_code == 409
    assert manager.post(f"/plans/{plan_id}/submit").status_code == 409
    assert manager.get(f"/plans/{plan_id}").json["name"] == "2027年度运维考核计划"


def test_weights_must_sum_to_100_and_errors_say_where(people, api_as):
    manager = api_as("manager")
    payload = plan_payload()
    payload["indicators"][0]["children"][0]["weight"] = 30       # A1 + A2 = 90
    payload["indicators"][1]["weight"] = 30                        # A + B = 90
    payload["evaluators"][1]["weight"] = 20                        # 70 + 20 = 90
    payload["objects"] = ["GAT", "NOPE"]
    response = manager.post("/plans", payload)
    assert response.status_code == 422
    errors = response.json["errors"]
    assert "一级指标权重之和为 90" in errors["indicators"][0]
    assert "「服务质量」的下级指标权重之和为 90" in errors["indicators[0].children"][0]
    assert "评估人权重之和为 90" in errors["evaluators"][0]
    assert "NOPE" in errors["objects[1]"][0]
    assert manager.get("/plans").json["items"] == []


def test_bad_plan_fields_are_reported_per_field(people, api_as):
    manager = api_as("manager")
    payload = plan_payload(cycle="decade", period_start="2027-12-31", period_end="2027-01-01")
    payload["indicators"][1]["code"] = "A"          # duplicate
    payload["indicators"][1]["weight"] = "abc"
    payload["evaluators"] = [{"role": "evaluator", "unit": "KHB", "weight": 100}]
    errors = manager.post("/plans", payload).json["errors"]
    assert set(errors) >= {"cycle", "period_end", "indicators[1].code", "indicators[1].weight", "evaluators[0]"}


def test_only_assessment_managers_create_plans(people, api_as):
    assert api_as("reviewer").post("/plans", plan_payload()).status_code == 403
    assert api_as("unit_gat").post("/plans", plan_payload()).status_code == 403


def test_only_the_author_submits(people, api_as):
    plan_id = api_as("manager").post("/plans", plan_payload()).json["id"]
    assert api_as("manager2").post(f"/plans/{plan_id}/submit").status_code == 403
    assert api_as("unit_gat").post(f"/plans/{plan_id}/submit").status_code == 403


def test_assessed_units_do_not_see_draft_plans(people, api_as):
    plan_id = api_as("manager").post("/plans", plan_payload()).json["id"]
    assert api_as("unit_gat").get(f"/plans/{plan_id}").status_code == 403
    assert api_as("reviewer").get(f"/plans/{plan_id}").status_code == 200
