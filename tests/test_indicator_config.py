"""How indicators are scored: input adapters for manual leaves, data source and rule for automatic ones."""
from __future__ import annotations

import pytest

from app.extensions import db
from app.models import DataSource
from tests.conftest import plan_payload


def tree(**leaf) -> list[dict]:
    return [{"code": "A", "name": "服务质量", "weight": 100, "max_score": 10, **leaf}]


@pytest.fixture
def source(app) -> str:
    with app.app_context():
        db.session.add(DataSource(name="好差评", kind="http_json", url="http://127.0.0.1:9/x",
                                  object_field="unit", value_field="rate"))
        db.session.commit()
    return "好差评"


def test_input_adapters_are_kept_and_shown(people, api_as):
    deductions = {"kind": "deductions",
                  "items": [{"label": "超时未响应", "points": 2}, {"label": "资料缺失", "points": "1.5"}]}
    api = api_as("manager")
    resp = api.post("/plans", plan_payload(indicators=tree(input=deductions), public=True))
    assert resp.status_code == 201, resp.json
    plan = api.get(f"/plans/{resp.json['id']}").json
    assert plan["public"] is True
    assert plan["indicators"][0]["input"] == {
        "kind": "deductions", "items": [{"label": "超时未响应", "points": "2"}, {"label": "资料缺失", "points": "1.5"}]}

    grades = {"kind": "grades", "choices": [{"label": "好", "score": 10}, {"label": "中", "score": 6}]}
    resp = api.put(f"/plans/{plan['id']}", plan_payload(indicators=tree(input=grades)))
    assert resp.status_code == 200, resp.json
    assert api.get(f"/plans/{plan['id']}").json["indicators"][0]["input"]["choices"][1] == {"label": "中", "score": "6"}


@pytest.mark.parametrize(("adapter", "where"), [
    ({"kind": "stars"}, "indicators[0].input"),
    ({"kind": "deductions", "items": []}, "indicators[0].input.items"),
    ({"kind": "deductions", "items": [{"label": "x", "points": 11}]}, "indicators[0].input.items[0].points"),
    ({"kind": "grades", "choices": [{"label": "好", "score": 12}]}, "indicators[0].input.choices[0].score"),
    ({"kind": "grades", "choices": [{"label": "好", "score": 1}, {"label": "好", "score": 2}]},
     "indicators[0].input.choices[1].label"),
])
def test_bad_input_adapters_are_refused_where_they_are(people, api_as, adapter, where):
    resp = api_as("manager").post("/plans", plan_payload(indicators=tree(input=adapter)))
    assert resp.status_code == 422
    assert where in resp.json["errors"]


def test_automatic_indicators_name_an_existing_source_and_a_valid_rule(people, api_as, source):
    api = api_as("manager")
    good = {"datasource": source, "rule": {"kind": "linear", "worst": 60, "best": "99.5", "extra": 1}}
    resp = api.post("/plans", plan_payload(indicators=tree(method="auto", source=good)))
    assert resp.status_code == 201, resp.json
    shown = api.get(f"/plans/{resp.json['id']}").json["indicators"][0]["source"]
    assert shown == {"datasource": source, "rule": {"kind": "linear", "worst": "60", "best": "99.5"}}

    missing = {"datasource": "不存在", "rule": {"kind": "ratio"}}
    resp = api.post("/plans", plan_payload(indicators=tree(method="auto", source=missing)))
    assert resp.json["errors"]["indicators[0].source.datasource"] == ["数据源 不存在 不存在。"]
    bad_rule = {"datasource": source, "rule": {"kind": "linear", "worst": 1, "best": 1}}
    resp = api.post("/plans", plan_payload(indicators=tree(method="auto", source=bad_rule)))
    assert "indicators[0].source.rule" in resp.json["errors"]


def test_a_source_on_a_manual_indicator_or_an_adapter_on_an_automatic_one_is_refused(people, api_as, source):
    api = api_as("manager")
    rule = {"datasource": source, "rule": {"kind": "ratio"}}
    resp = api.post("/plans", plan_payload(indicators=tree(source=rule)))
    assert "indicators[0].source" in resp.json["errors"]
    resp = api.post("/plans", plan_payload(indicators=tree(method="auto", input={"kind": "grades"})))
    assert "indicators[0].input" in resp.json["errors"]
    resp = api.post("/plans", plan_payload(public="yes"))
    assert resp.json["errors"]["public"] == ["须为 true 或 false。"]
