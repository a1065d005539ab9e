"""Indicator change control (A1.5): request with a reason, review, versions."""
from __future__ import annotations

import pytest

from tests.conftest import plan_payload
from tests.test_scoring_round import publish

TREE = [
    {"code": "A", "name": "服务质量", "weight": 60, "children": [
        {"code": "A1", "name": "响应及时", "weight": 50, "max_score": 10},
        {"code": "A2", "name": "服务态度", "weight": 50, "max_score": 10}]},
    {"code": "B", "name": "规范管理", "weight": 40, "max_score": 20},
]
SHIFT = {"reason": "本年度更重视响应时效", "indicators": [{"code": "A1", "weight": 70}, {"code": "A2", "weight": 30}]}


@pytest.fixture
def plan_id(people, api_as) -> int:
    return publish(api_as, plan_payload(indicators=TREE))


def weights(plan: dict) -> dict[str, str]:
    out = {}

    def walk(nodes):
        for n in nodes:
            out[n["code"]] = n["weight"]
            walk(n["children"])
    walk(plan["indicators"])
    return out


def review(api, decision: str, comment: str = "") -> None:
    [task] = api.get("/tasks?scope=candidate&process=indicator_change").json["items"]
    response = api.post(f"/tasks/{task['id']}/complete", {"data": {"decision": decision, "comment": comment}})
    assert response.status_code == 200, response.json


def test_an_approved_change_takes_effect_as_a_new_version_and_the_old_one_stays_readable(plan_id, api_as):
    manager = api_as("manager")
    requested = manager.post(f"/plans/{plan_id}/changes", SHIFT)
    assert requested.status_code == 201, requested.json
    # nothing changes until it is approved
    assert weights(manager.get(f"/plans/{plan_id}").json)["A1"] == "50"
    assert manager.get(f"/plans/{plan_id}/changes").json["items"][0]["status"] == "pending"
    # the requester cannot review their own change
    assert manager.get("/tasks?scope=candidate&process=indicator_change").json["items"] == []

    review(api_as("reviewer"), "approve")
    current = manager.get(f"/plans/{plan_id}").json
    assert current["version"] == 2
    assert weights(current) == {"A": "60", "A1": "70", "A2": "30", "B": "40"}
    old = manager.get(f"/plans/{plan_id}?version=1").json
    assert old["version"] == 1 and weights(old)["A1"] == "50"
    assert manager.get(f"/plans/{plan_id}?version=2").json == current
    assert manager.get(f"/plans/{plan_id}?version=3").status_code == 404
    assert manager.get(f"/plans/{plan_id}?version=x").status_code == 422
    [change] = manager.get(f"/plans/{plan_id}/changes").json["items"]
    assert change["status"] == "approved" and change["decided_at"]


def test_a_rejected_change_changes_nothing_and_needs_a_reason(plan_id, api_as):
    manager = api_as("manager")
    manager.post(f"/plans/{plan_id}/changes", SHIFT)
    [task] = api_as("reviewer").get("/tasks?scope=candidate&process=indicator_change").json["items"]
    refused = api_as("reviewer").post(f"/tasks/{task['id']}/complete", {"data": {"decision": "reject"}})
    assert refused.status_code == 422 and "comment" in refused.json["errors"]
    review(api_as("reviewer"), "reject", "理由不充分")
    plan = manager.get(f"/plans/{plan_id}").json
    assert plan["version"] == 1 and weights(plan)["A1"] == "50"
    assert manager.get(f"/plans/{plan_id}/changes").json["items"][0]["status"] == "rejected"


@pytest.mark.parametrize(("body", "field"), [
    ({"indicators": SHIFT["indicators"]}, "reason"),
    ({"reason": "x", "indicators": []}, "indicators"),
    ({"reason": "x", "indicators": [{"code": "Z9", "weight": 10}]}, "indicators[0].code"),
    ({"reason": "x", "indicators": [{"code": "A1", "method": "auto"}]}, "indicators[0]"),
    ({"reason": "x", "indicators": [{"code": "A1"}]}, "indicators[0]"),
    ({"reason": "x", "indicators": [{"code": "A1", "weight": 80}]}, "indicators[0].children"),   # sums to 130
    ({"reason": "x", "indicators": [{"code": "B", "max_score": -1}]}, "indicators[1].max_score"),
])
def test_bad_change_requests_are_refused_and_start_nothing(plan_id, api_as, body, field):
    manager = api_as("manager")
    response = manager.post(f"/plans/{plan_id}/changes", body)
    assert response.status_code == 422, response.json
    assert field in response.json["errors"], response.json
    assert manager.get(f"/plans/{plan_id}/changes").json["items"] == []


def test_one_change_at_a_time_and_only_on_published_plans_by_managers(people, plan_id, api_as):
    manager = api_as("manager")
    assert manager.post(f"/plans/{plan_id}/changes", SHIFT).status_code == 201
    second = api_as("manager2").post(f"/plans/{plan_id}/changes", SHIFT)
    assert second.status_code == 409 and "正在审核" in second.json["error"]
    assert api_as("reviewer").post(f"/plans/{plan_id}/changes", SHIFT).status_code == 403
    draft = manager.post("/plans", plan_payload(indicators=TREE)).json["id"]
    assert manager.post(f"/plans/{draft}/changes", SHIFT).status_code == 409


def test_full_marks_cannot_drop_below_entered_scores(people, make_user, api_as):
    make_user("eva1", "evaluator", unit="RST")
    pid = publish(api_as, plan_payload(indicators=TREE, evaluators=[{"role": "evaluator", "weight": 100}]))
    api_as("eva1").post(f"/plans/{pid}/scores", {"object": "GAT", "indicator": "B", "score": 18})
    response = api_as("manager").post(f"/plans/{pid}/changes",
                                      {"reason": "满分调整", "indicators": [{"code": "B", "max_score": 15}]})
    assert response.status_code == 422
    assert "18" in response.json["errors"]["max_score"][0]


def test_scores_follow_the_new_weights_after_approval(people, make_user, api_as):
    make_user("eva1", "evaluator", unit="RST")
    pid = publish(api_as, plan_payload(indicators=TREE, evaluators=[{"role": "evaluator", "weight": 100}],
                                       objects=["GAT"]))
    for code, score in (("A1", 10), ("A2", 0), ("B", 20)):
        api_as("eva1").post(f"/plans/{pid}/scores", {"object": "GAT", "indicator": code, "score": score})
    manager = api_as("manager")
    # A = 50, total 0.6 × 50 + 0.4 × 100 = 70.0
    assert manager.get(f"/plans/{pid}/results").json["items"][0]["total"] == "70.0"
    manager.post(f"/plans/{pid}/changes", SHIFT)
    review(api_as("reviewer"), "approve")
    # A = 70, total 0.6 × 70 + 40 = 82.0
    assert manager.get(f"/plans/{pid}/results").json["items"][0]["total"] == "82.0"
