"""Results pages, one unit across plans, the public page: what each reader sees."""
from __future__ import annotations

import json
import re

import pytest
from flask import render_template_string

from app.models import Role
from tests.conftest import plan_payload, set_results_stage
from tests.test_scoring_api import BANDS, MANUAL_TREE, score


def publish(api_as, payload: dict) -> int:
    manager = api_as("manager")
    created = manager.post("/plans", payload)
    assert created.status_code == 201, created.json
    plan_id = int(created.json["id"])
    manager.post(f"/plans/{plan_id}/submit")
    reviewer = api_as("reviewer2")
    [task] = reviewer.get("/tasks?scope=candidate&process=plan_approval").json["items"]
    reviewer.post(f"/tasks/{task['id']}/complete", {"data": {"decision": "approve"}})
    return plan_id


@pytest.fixture
def scored(people, make_user, api_as) -> int:
    """GAT scored by both groups (total 90.9, 优秀); CS by the evaluators only (80.0, renormalised)."""
    make_user("eva1", Role.EVALUATOR, unit="RST", name="评估一")
    make_user("eva2", Role.EVALUATOR, unit="RST", name="评估二")
    plan_id = publish(api_as, plan_payload(indicators=MANUAL_TREE, payment_bands=BANDS))
    for user, a1, a2, b in (("eva1", 80, 8, 4), ("eva2", 90, 9, 5), ("reviewer", 100, 10, 5)):
        for code, value in (("A1", a1), ("A2", a2), ("B", b)):
            assert score(api_as(user), plan_id, "GAT", code, value) == 201
    for code, value in (("A1", 80), ("A2", 8), ("B", 4)):
        score(api_as("eva1"), plan_id, "CS", code, value)
    return plan_id


def text(response) -> str:
    assert response.status_code == 200, response.status_code
    return re.sub(r"\s+", " ", response.get_data(as_text=True))


def cells(page: str, attribute: str, value: str) -> list[str]:
    """The text of each cell of the row marked ``attribute="value"``."""
    row = re.search(rf'{attribute}="{value}"[^>]*>(.*?)</tr>', page).group(1)
    return [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row)]


def chart_data(page: str) -> dict:
    return json.loads(re.search(r'<script type="application/json" id="chart-data">(.*?)</script>', page).group(1))


def test_results_table_ranks_objects_with_grades_fee_ratios_and_charts(scored, login, client):
    login("manager")
    page = text(client.get(f"/plans/{scored}/results"))
    assert cells(page, "data-object", "GAT")[:5] == ["1", "单位GAT GAT", "90.9", "优秀", "100%"]
    assert cells(page, "data-object", "CS")[:5] == ["2", "单位CS CS", "80.0", "良好", "90%"]
    assert page.index('data-object="GAT"') < page.index('data-object="CS"')
    assert "结果尚未发布" in page
    chart = chart_data(page)
    assert chart["objects"] == ["单位GAT", "单位CS"] and chart["totals"] == ["90.9", "80.0"]
    assert [i["name"] for i in chart["indicators"]] == ["服务质量", "系统运行"]
    assert chart["indicators"][1]["scores"] == ["93.00", "80.00"]
    assert "vendor/echarts/echarts.min.js" in page and "cdn" not in page.lower()


def test_an_object_without_every_score_is_flagged_and_left_out_of_the_charts(people, make_user, api_as, login,
                                                                               client):
    make_user("eva1", Role.EVALUATOR, unit="RST")
    plan_id = publish(api_as, plan_payload(indicators=MANUAL_TREE))
    for code, value in (("A1", 80), ("A2", 8), ("B", 4)):
        score(api_as("eva1"), plan_id, "GAT", code, value)
    score(api_as("eva1"), plan_id, "CS", "A1", 50)
    login("manager")
    page = text(client.get(f"/plans/{plan_id}/results"))
    assert cells(page, "data-object", "CS") == ["—", "单位CS CS", "—", "—", "—", "未完成 历次结果"]
    assert chart_data(page)["objects"] == ["单位GAT"]


def test_drill_down_shows_the_indicator_tree_group_scores_and_every_entry(scored, login, client):
    login("manager")
    page = text(client.get(f"/plans/{scored}/results/CS"))
    assert "80.0" in page and "良好" in page
    b_row = cells(page, "data-indicator", "B")
    assert b_row[:6] == ["B", "系统运行", "40", "5", "80.00", "80.00"] and b_row[6] == ""   # the office did not score
    assert "其余组的权重按比例放大" in b_row[7]
    evidence = re.search(r'data-indicator="B">.*?<ul class="[^"]*evidence">(.*?)</ul>', page).group(1)
    assert "评分：评估一（eva1）" in evidence and "评估人" in evidence and "得分 4" in evidence
    gat = text(client.get(f"/plans/{scored}/results/GAT"))
    # A1: evaluators (70%) 85.00, the office unit KHB (30%) 100.00 → 89.50
    assert cells(gat, "data-indicator", "A1")[4:7] == ["89.50", "85.00", "100.00"]
    assert cells(gat, "data-indicator", "A")[4] == "89.50"
    assert gat.count("评分：") == 9 and "评分：李审核（reviewer） · 单位KHB · 得分 100" in gat
    assert client.get(f"/plans/{scored}/results/NOPE").status_code == 404


def test_collected_and_missing_evidence_is_shown_too(app):
    items = [{"kind": "collection", "datasource": "12345热线", "run": 7, "at": "2027-03-01T02:00:00+00:00",
              "value": "0.982", "score": "98.2"},
             {"kind": "missing", "datasource": "政务云监控", "reason": "接口超时"}]
    template = ('{% from "results/_macros.html" import evidence_list with context %}'
                '{{ evidence_list(items, [], none) }}')
    with app.test_request_context("/"):
        from app.services.results import _when
        html = re.sub(r"\s+", " ", render_template_string(template, items=[_when(i) for i in items]))
    assert "数据采集：12345热线 · 第 7 次采集 · 2027-03-01 10:00 · 采集值 0.982 · 得分 98.2" in html
    assert "缺少数据：政务云监控 · 接口超时" in html


def test_plan_page_links_to_results_only_for_readers_of_them(scored, login, client, app):
    login("manager")
    assert f"/plans/{scored}/results" in client.get(f"/plans/{scored}").get_data(as_text=True)
    login("leader")
    assert f"/plans/{scored}/results" not in client.get(f"/plans/{scored}").get_data(as_text=True)
    set_results_stage(app, scored, "preliminary")
    assert f"/plans/{scored}/results" in client.get(f"/plans/{scored}").get_data(as_text=True)


def test_an_assessed_unit_sees_its_own_row_and_drill_down_once_published(scored, login, client, app):
    login("unit_gat")
    assert client.get(f"/plans/{scored}/results").status_code == 403
    set_results_stage(app, scored, "preliminary")
    page = text(client.get(f"/plans/{scored}/results"))
    assert 'data-object="GAT"' in page and 'data-object="CS"' not in page and 'id="chart-data"' not in page
    assert "90.9" in text(client.get(f"/plans/{scored}/results/GAT"))
    assert client.get(f"/plans/{scored}/results/CS").status_code == 403


def test_api_results_of_one_object_carry_only_its_evidence(scored, api_as):
    items = api_as("manager").get(f"/plans/{scored}/results?object=CS").json["items"]
    assert [i["object"] for i in items] == ["CS"]
    assert {e["evaluator"] for i in items[0]["indicators"] for e in i["evidence"]} == {"eva1"}


# ----------------------------------------------------------------------------- one unit across plans

@pytest.fixture
def two_periods(scored, api_as, app) -> tuple[int, int]:
    """The scored 2027 plan (published final) and a 2026 plan scored for GAT (preliminary)."""
    earlier = publish(api_as, plan_payload(name="2026年度运维考核计划", period_start="2026-01-01",
                                           period_end="2026-12-31", indicators=MANUAL_TREE, payment_bands=BANDS))
    for code, value in (("A1", 60), ("A2", 7), ("B", 3)):
        score(api_as("eva1"), earlier, "GAT", code, value)
    set_results_stage(app, scored, "final")
    set_results_stage(app, earlier, "preliminary")
    return earlier, scored


def test_a_units_results_across_plans_are_in_period_order(two_periods, api_as, login, client):
    earlier, later = two_periods
    publish(api_as, plan_payload(name="未发布结果的计划", indicators=MANUAL_TREE))   # results not published
    items = api_as("leader").get("/units/GAT/results").json["items"]
    assert [(i["plan"], i["plan_name"], i["period_start"], i["total"], i["grade"], i["rank"], i["payment_ratio"])
            for i in items] == [
        (earlier, "2026年度运维考核计划", "2026-01-01", "63.6", "合格", 1, "0.7"),   # 0.6×66 + 0.4×60
        (later, "2027年度运维考核计划", "2027-01-01", "90.9", "优秀", 1, "1")]
    assert items[0]["period_end"] == "2026-12-31" and items[0]["results_stage"] == "preliminary"
    login("unit_gat")
    page = text(client.get("/objects/GAT/results"))
    assert page.index("2026年度运维考核计划") < page.index("2027年度运维考核计划") and "未发布结果的计划" not in page
    assert chart_data(page)["trend"] == ["63.6", "90.9"]


def test_a_unit_in_no_published_plan_has_an_empty_history(people, api_as):
    assert api_as("manager").get("/units/CS/results").json["items"] == []
    assert api_as("manager").get("/units/NOPE/results").status_code == 404


# ----------------------------------------------------------------------------- public

def test_public_results_show_final_results_of_public_plans_without_names_of_evaluators(two_periods, client, app):
    earlier, later = two_periods
    assert client.get(f"/public/plans/{later}/results").status_code == 404     # final, but not public
    set_results_stage(app, later, "final", public=True)
    set_results_stage(app, earlier, "preliminary", public=True)
    listing = text(client.get("/public/results"))
    assert "2027年度运维考核计划" in listing and "2026年度运维考核计划" not in listing
    page = text(client.get(f"/public/plans/{later}/results"))
    assert "单位GAT" in page and "90.9" in page and "优秀" in page and "单位CS" in page
    assert "评估一" not in page and "eva1" not in page and "评分：" not in page and "%" not in page.split("<main")[1]
    assert chart_data(page) == {"objects": ["单位GAT", "单位CS"], "totals": ["90.9", "80.0"],
                                "labels": {"total": "总分", "score": "得分（0–100）"}}
    assert client.get(f"/public/plans/{earlier}/results").status_code == 404  # public, but preliminary
    assert client.get("/public/plans/999999/results").status_code == 404
