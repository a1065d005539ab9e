"""Collected values become scores: a published plan's automatic indicator, collected through the API,
scored by its rule in GET /plans/<id>/results with the collection as evidence."""
from __future__ import annotations

import pytest

from app.models import Role
from tests.conftest import plan_payload
from tests.test_collection import records, source

RULE = {"kind": "linear", "worst": 60, "best": 100}
TREE = [
    {"code": "A", "name": "服务态度", "weight": 40, "max_score": 10},
    {"code": "B", "name": "好评率", "weight": 60, "method": "auto", "max_score": 100,
     "source": {"datasource": "好差评", "rule": RULE}},
]


def rates(**values: object) -> dict:
    return records(*[{"unit": unit, "rate": rate} for unit, rate in values.items()])


def publish(api_as, payload: dict) -> int:
    manager = api_as("manager")
    created = manager.post("/plans", payload)
    assert created.status_code == 201, created.json
    plan_id = int(created.json["id"])
    manager.post(f"/plans/{plan_id}/submit")
    reviewer = api_as("reviewer")
    [task] = reviewer.get("/tasks?scope=candidate").json["items"]
    reviewer.post(f"/tasks/{task['id']}/complete", {"data": {"decision": "approve"}})
    assert manager.get(f"/plans/{plan_id}").json["status"] == "published"
    return plan_id


@pytest.fixture
def plan(people, make_user, api_as, source_server) -> int:
    """Published: A (manual, scored 8/10 by an evaluator for both objects) and B (automatic, from 好差评)."""
    make_user("eva1", Role.EVALUATOR, unit="RST")
    source(api_as("manager"), source_server.answer("/rates", rates(GAT="90", CS=100)))
    plan_id = publish(api_as, plan_payload(indicators=TREE))
    evaluator = api_as("eva1")
    for obj in ("GAT", "CS"):
        scored = evaluator.post(f"/plans/{plan_id}/scores", {"object": obj, "indicator": "A", "score": 8})
        assert scored.status_code == 201
    return plan_id


def b_of(api, plan_id: int, obj: str) -> tuple[str | None, dict]:
    row = next(r for r in api.get(f"/plans/{plan_id}/results").json["items"] if r["object"] == obj)
    b = next(i for i in row["indicators"] if i["code"] == "B")
    return row["total"], b


def test_collected_values_are_scored_by_the_rule_and_shown_as_evidence(plan, api_as, source_server):
    leader, manager = api_as("reviewer"), api_as("manager")
    total, b = b_of(leader, plan, "GAT")
    assert total is None and b["incomplete"]
    assert b["evidence"] == [{"kind": "missing", "datasource": "好差评", "reason": "数据源 好差评 尚无成功的采集。"}]

    collected = manager.post(f"/plans/{plan}/collect")
    assert collected.status_code == 200, collected.json
    [run] = collected.json["items"]
    assert (run["datasource"], run["status"], run["plan_id"], run["records_read"]) == ("好差评", "ok", plan, 2)

    # GAT: B = (90 − 60) ÷ (100 − 60) = 75; total 0.4 × 80 + 0.6 × 75 = 77.0.  CS: B = 100; 32 + 60 = 92.0
    total, b = b_of(leader, plan, "GAT")
    assert (total, b["score"]) == ("77.0", "75.00")
    assert b["evidence"] == [{"kind": "collection", "datasource": "好差评", "run": run["id"], "at": run["finished_at"],
                              "value": "90", "score": "75"}]
    assert b_of(leader, plan, "CS")[0] == "92.0"
    assert api_as("reviewer").get(f"/plans/{plan}/results").json["complete"] is True

    # A failed run changes nothing: the last good values stay in force.
    source_server.answer("/rates", "down for maintenance", status=503)
    failed = manager.post(f"/plans/{plan}/collect").json["items"]
    assert [r["status"] for r in failed] == ["failed"]
    total, b = b_of(leader, plan, "GAT")
    assert (total, b["evidence"][0]["run"]) == ("77.0", run["id"])

    # A later good run with a new value does.
    source_server.answer("/rates", rates(GAT="70.0", CS=100))
    [newer] = manager.post(f"/plans/{plan}/collect").json["items"]
    total, b = b_of(leader, plan, "GAT")
    shown = (total, b["score"], b["evidence"][0]["run"], b["evidence"][0]["value"])
    assert shown == ("47.0", "25.00", newer["id"], "70.0")

    # An object the source no longer reports is incomplete again, and the evidence says why.
    source_server.answer("/rates", rates(GAT=95))
    [latest] = manager.post(f"/plans/{plan}/collect").json["items"]
    total, b = b_of(leader, plan, "CS")
    assert total is None and b["incomplete"]
    assert b["evidence"][0]["reason"] == f"数据源 好差评 最近一次成功采集（#{latest['id']}）中没有 CS 的数据。"
    assert b_of(leader, plan, "GAT")[0] == "84.5"   # 32 + 0.6 × 87.5


def test_collect_needs_a_published_plan(people, api_as, source_server):
    manager = api_as("manager")
    source(manager, source_server.answer("/rates", rates(GAT=90)))
    draft = manager.post("/plans", plan_payload(indicators=TREE)).json["id"]
    response = manager.post(f"/plans/{draft}/collect")
    assert response.status_code == 409 and "尚未发布" in response.json["error"]
    assert source_server.hits("/rates") == []
    assert manager.post("/plans/999999/collect").status_code == 404


def test_each_source_is_run_once_per_collect(people, make_user, api_as, source_server):
    manager = api_as("manager")
    source(manager, source_server.answer("/rates", rates(GAT=90, CS=80)))
    source(manager, source_server.answer("/uptime", records({"unit": "GAT", "rate": 99.9}, {"unit": "CS", "rate": 98})),
           name="可用率")
    tree = [{"code": "A", "name": "好评", "weight": 50, "method": "auto",
             "source": {"datasource": "好差评", "rule": RULE}},
            {"code": "B", "name": "服务", "weight": 50, "children": [
                {"code": "B1", "name": "好评二", "weight": 50, "method": "auto",
                 "source": {"datasource": "好差评", "rule": {"kind": "ratio", "target": 100}}},
                {"code": "B2", "name": "可用", "weight": 50, "method": "auto",
                 "source": {"datasource": "可用率", "rule": {"kind": "thresholds", "bands": [
                     {"min": 99.5, "score": 100}, {"min": 95, "score": 60}]}}}]}]
    plan_id = publish(api_as, plan_payload(indicators=tree))
    runs = manager.post(f"/plans/{plan_id}/collect").json["items"]
    assert [r["datasource"] for r in runs] == ["好差评", "可用率"]
    assert len(source_server.hits("/rates")) == 1
    row = next(r for r in api_as("reviewer").get(f"/plans/{plan_id}/results").json["items"] if r["object"] == "CS")
    # CS: A = (80−60)/40 = 50; B1 = 80; B2 = 60 (98 ≥ 95); B = 70; total 0.5×50 + 0.5×70 = 60.0
    scores = {i["code"]: i["score"] for i in row["indicators"]}
    assert scores == {"A": "50.00", "B": "70.00", "B1": "80.00", "B2": "60.00"}
    assert row["total"] == "60.0"
