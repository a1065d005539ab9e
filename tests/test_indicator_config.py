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


# ----------------------------------------------------------------------------- the plan editor

def editor_form(**settings: str) -> dict[str, str]:
    """A one-indicator plan as the editor posts it, with the row's scoring settings."""
    form = {"name": "表单计划", "cycle": "year", "period_start": "2027-01-01", "period_end": "2027-12-31",
            "ind-0-code": "A", "ind-0-parent": "", "ind-0-name": "服务质量", "ind-0-weight": "100",
            "ind-0-method": "manual", "ind-0-max_score": "10", "ind-0-standard": "",
            "ev-0-kind": "role", "ev-0-ref": "evaluator", "ev-0-weight": "100", "objects": "GAT"}
    form.update({f"ind-0-{k}": v for k, v in settings.items()})
    return form


def test_the_editor_sets_input_adapters_and_sources_and_shows_them_again(people, login, api_as, source):
    client = login("manager")
    saved = client.post("/plans/new", data=editor_form(input_kind="grades", options="好=10\n中：6\n差:2"))
    assert saved.status_code == 302, saved.get_data(as_text=True)[:2000]
    plan_id = int(saved.headers["Location"].rstrip("/").split("/")[-1])
    shown = api_as("manager").get(f"/plans/{plan_id}").json["indicators"][0]
    assert shown["input"] == {"kind": "grades", "choices": [
        {"label": "好", "score": "10"}, {"label": "中", "score": "6"}, {"label": "差", "score": "2"}]}
    page = client.get(f"/plans/{plan_id}/edit").get_data(as_text=True)
    assert "好=10\n中=6\n差=2</textarea>" in page

    auto = editor_form(method="auto", datasource=source, rule_kind="thresholds", options="95=10\n80=6",
                       input_kind="range")
    assert client.post(f"/plans/{plan_id}/edit", data=auto).status_code == 302
    shown = api_as("manager").get(f"/plans/{plan_id}").json["indicators"][0]
    assert shown["source"] == {"datasource": source, "rule": {"kind": "thresholds", "bands": [
        {"min": "95", "score": "10"}, {"min": "80", "score": "6"}]}}
    assert "input" not in shown
    page = client.get(f"/plans/{plan_id}/edit").get_data(as_text=True)
    assert f'<option value="{source}" selected>' in page


def test_bad_settings_are_shown_on_their_row_and_nothing_is_saved(people, login):
    client = login("manager")
    response = client.post("/plans/new", data=editor_form(input_kind="deductions", options="超时\n缺失=2"))
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert "第 1 行：" in body and "须为数字" in body
    response = client.post("/plans/new", data=editor_form(input_kind="grades", options="好=12"))
    assert "须在 0 到 10 之间" in response.get_data(as_text=True)
