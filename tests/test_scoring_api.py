"""Score entry and results through the API: the documented method end to end, with evidence."""
from __future__ import annotations

import pytest

from app.models import Role
from tests.conftest import plan_payload, set_results_stage

MANUAL_TREE = [
    {"code": "A", "name": "服务质量", "weight": 60, "children": [
        {"code": "A1", "name": "响应及时率", "weight": 40, "max_score": 100},
        {"code": "A2", "name": "服务态度", "weight": 60, "max_score": 10}]},
    {"code": "B", "name": "系统运行", "weight": 40, "max_score": 5},
]
BANDS = [{"min": 90, "ratio": 1}, {"min": 80, "ratio": "0.9"}, {"min": 60, "ratio": "0.7"}]


@pytest.fixture
def published(people, make_user, api_as) -> int:
    """A published plan: evaluators (role, weight 70) and the assessment office (unit KHB, weight 30)."""
    make_user("eva1", Role.EVALUATOR, unit="RST", name="评估一")
    make_user("eva2", Role.EVALUATOR, unit="RST", name="评估二")
    manager = api_as("manager")
    plan_id = manager.post("/plans", plan_payload(indicators=MANUAL_TREE, payment_bands=BANDS)).json["id"]
    manager.post(f"/plans/{plan_id}/submit")
    reviewer = api_as("reviewer2")
    [task] = reviewer.get("/tasks?scope=candidate").json["items"]
    reviewer.post(f"/tasks/{task['id']}/complete", {"data": {"decision": "approve"}})
    assert manager.get(f"/plans/{plan_id}").json["status"] == "published"
    return int(plan_id)


def score(api, plan_id: int, obj: str, indicator: str, value) -> int:
    body = {"object": obj, "indicator": indicator, "score": value}
    return int(api.post(f"/plans/{plan_id}/scores", body).status_code)


def row(api, plan_id: int, obj: str) -> dict:
    return next(r for r in api.get(f"/plans/{plan_id}/results").json["items"] if r["object"] == obj)


def test_scores_become_totals_grades_ranks_and_fee_ratios(published, api_as):
    eva1, eva2, office = api_as("eva1"), api_as("eva2"), api_as("reviewer")
    for api, a1, a2, b in ((eva1, 80, 8, 4), (eva2, 90, 9, 5), (office, 100, 10, 5)):
        assert [score(api, published, "GAT", c, v) for c, v in (("A1", a1), ("A2", a2), ("B", b))] == [201] * 3
    for code, value in (("A1", 80), ("A2", 8), ("B", 4)):
        score(eva1, published, "CS", code, value)

    manager = api_as("manager")
    results = manager.get(f"/plans/{published}/results").json
    assert results["complete"] is True
    gat, cs = row(manager, published, "GAT"), row(manager, published, "CS")
    # GAT: A1 = 0.7×85 + 0.3×100 = 89.5; A2 likewise; B = 0.7×90 + 0.3×100 = 93; total 0.6×89.5 + 0.4×93 = 90.9
    assert (gat["total"], gat["grade"], gat["rank"], gat["payment_ratio"]) == ("90.9", "优秀", 1, "1")
    # CS: only the evaluators' group scored, so its weight is renormalised to the whole: 80 everywhere
    assert (cs["total"], cs["grade"], cs["rank"], cs["payment_ratio"]) == ("80.0", "良好", 2, "0.9")
    b_row = next(i for i in cs["indicators"] if i["code"] == "B")
    assert b_row["renormalised"] is True and b_row["evidence"][0]["evaluator"] == "eva1"

    # Changing one entry changes the total and shows in the drill-down.
    assert score(eva1, published, "GAT", "B", 5) == 201
    gat = row(manager, published, "GAT")
    assert gat["total"] == "93.7"
    b_row = next(i for i in gat["indicators"] if i["code"] == "B")
    assert sorted(e["score"] for e in b_row["evidence"]) == ["5", "5", "5"]


def test_an_object_without_scores_is_incomplete_and_unranked(published, api_as):
    score(api_as("eva1"), published, "GAT", "A1", 50)
    results = api_as("manager").get(f"/plans/{published}/results").json
    assert results["complete"] is False
    assert all(r["incomplete"] and r["total"] is None and r["rank"] is None for r in results["items"])


def test_assessed_units_see_only_their_own_row_and_others_are_refused(published, api_as, app):
    score(api_as("eva1"), published, "GAT", "A1", 50)
    assert api_as("unit_gat").get(f"/plans/{published}/results").status_code == 403   # not yet published
    set_results_stage(app, published, "preliminary")
    own = api_as("unit_gat").get(f"/plans/{published}/results").json["items"]
    assert [r["object"] for r in own] == ["GAT"]
    assert api_as("eva1").get(f"/plans/{published}/results").status_code == 403
    assert api_as("manager").get(f"/plans/{published}/results").status_code == 200


@pytest.mark.parametrize(("payload", "field"), [
    ({"object": "GAT", "indicator": "A2", "score": 11}, "score"),        # above max_score 10
    ({"object": "GAT", "indicator": "A2", "score": -1}, "score"),
    ({"object": "GAT", "indicator": "A2", "score": "8.1234"}, "score"),
    ({"object": "GAT", "indicator": "A2", "score": "NaN"}, "score"),
    ({"object": "GAT", "indicator": "A", "score": 50}, "indicator"),     # a parent
    ({"object": "GAT", "indicator": "Z9", "score": 50}, "indicator"),
    ({"object": "ZZZ", "indicator": "A1", "score": 50}, "object"),
])
def test_bad_scores_are_refused_per_field_and_change_nothing(published, api_as, payload, field):
    response = api_as("eva1").post(f"/plans/{published}/scores", payload)
    assert response.status_code == 422 and field in response.json["errors"]
    assert all(not any(i["evidence"] for i in r["indicators"])
               for r in api_as("manager").get(f"/plans/{published}/results").json["items"])


def test_only_evaluators_of_a_published_plan_may_score(people, make_user, api_as):
    make_user("eva1", Role.EVALUATOR, unit="RST")
    manager = api_as("manager")
    draft = manager.post("/plans", plan_payload(indicators=MANUAL_TREE)).json["id"]
    assert score(api_as("eva1"), draft, "GAT", "A1", 50) == 409
    assert score(api_as("unit_gat"), draft, "GAT", "A1", 50) == 403


def test_automatic_indicators_are_not_scored_by_hand(people, make_user, api_as):
    make_user("eva1", Role.EVALUATOR, unit="RST")
    manager = api_as("manager")
    plan_id = manager.post("/plans", plan_payload()).json["id"]     # A1 and B are automatic
    manager.post(f"/plans/{plan_id}/submit")
    reviewer = api_as("reviewer")
    [task] = reviewer.get("/tasks?scope=candidate").json["items"]
    reviewer.post(f"/tasks/{task['id']}/complete", {"data": {"decision": "approve"}})
    response = api_as("eva1").post(f"/plans/{plan_id}/scores", {"object": "GAT", "indicator": "B", "score": 50})
    assert response.status_code == 422 and "自动" in response.json["error"]


def test_payment_bands_are_validated(people, api_as):
    bad = plan_payload(payment_bands=[{"min": 120, "ratio": 1}, {"min": 80, "ratio": 2}, {"min": 80, "ratio": 1}])
    errors = api_as("manager").post("/plans", bad).json["errors"]
    assert {"payment_bands[0].min", "payment_bands[1].ratio", "payment_bands"} <= set(errors)
