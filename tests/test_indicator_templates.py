"""The shipped indicator templates (A2.2, A5.2, A5.3): complete, well-formed, and usable as a plan."""
from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from flask import Flask

from app.scoring.library import (
    TemplateNotFound,
    list_templates,
    load_template,
    read_template,
    validate_template,
)
from app.scoring.method import IndicatorDef, score_object
from app.services.plans import parse_plan
from tests.conftest import plan_payload

KEYS = ("demand_side", "supply_side")

# Every dimension and sub-indicator MISSION A5.2 / A5.3 names, under the dimension it belongs to.
SUPPLY_SIDE = {
    "服务方式完备度": [],
    "事项覆盖度": ["事项清单公布", "办事指南公布", "标准化程度"],
    "办事指南准确度": ["基本信息", "申请材料", "表格下载/填写示范", "办理流程"],
    "在线办理深度": ["在线办理程度", "服务整合程度"],
    "在线服务成效度": ["服务使用情况", "办理时效", "特色服务", "服务覆盖面/到达率", "服务拓展"],
    "一体化平台应用水平": ["电子证照使用率", "一网通办率", "统一入口访问率"],
}
DEMAND_SIDE = {
    "服务满意度": ["短信评价", "窗口评价", "微信评价", "网上评价"],
    "办事便利度": ["主动服务", "材料复用率", "流程精简", "跑腿次数", "网点覆盖", "社区覆盖"],
}


def walk(nodes: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for node in nodes:
        yield node
        yield from walk(node["children"])


def sibling_lists(nodes: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    yield nodes
    for node in nodes:
        if node["children"]:
            yield from sibling_lists(node["children"])


# ----------------------------------------------------------------------------- shipped templates

def test_every_shipped_template_is_listed_and_loads():
    infos = list_templates()
    assert tuple(i.key for i in infos) == KEYS
    for info in infos:
        assert info.name and info.description
        assert "权重" in info.source  # says the weights are editable defaults, not official ones
        template = load_template(info.key)
        assert (template["key"], template["name"], template["source"]) == (info.key, info.name, info.source)
        assert template["indicators"]


@pytest.mark.parametrize(("key", "expected"), [("supply_side", SUPPLY_SIDE), ("demand_side", DEMAND_SIDE)])
def test_every_mission_indicator_is_present_under_its_dimension(key, expected):
    indicators = load_template(key)["indicators"]
    dimensions = {node["name"]: node for node in indicators}
    assert list(dimensions) == list(expected)
    for dimension, subs in expected.items():
        children = [child["name"] for child in dimensions[dimension]["children"]]
        missing = [name for name in subs if name not in children]
        assert not missing, f"{dimension} lacks {missing}"


@pytest.mark.parametrize("key", KEYS)
def test_weights_sum_to_exactly_100_at_every_level(key):
    indicators = load_template(key)["indicators"]
    for siblings in sibling_lists(indicators):
        total = sum((Decimal(node["weight"]) for node in siblings), Decimal(0))
        assert total == Decimal(100), [node["code"] for node in siblings]


@pytest.mark.parametrize("key", KEYS)
def test_every_node_is_complete(key):
    nodes = list(walk(load_template(key)["indicators"]))
    codes = [node["code"] for node in nodes]
    assert len(codes) == len(set(codes))
    for node in nodes:
        assert node["method"] in ("manual", "auto"), node["code"]
        assert node["max_score"] == "100", node["code"]
        assert node["standard"].endswith("。"), node["code"]  # a sentence an evaluator can apply
    leaves = [node for node in nodes if not node["children"]]
    assert {node["method"] for node in leaves} == {"manual", "auto"}


def test_each_call_returns_fresh_objects_to_edit():
    first = load_template("supply_side")
    first["indicators"][0]["weight"] = "99"
    assert load_template("supply_side")["indicators"][0]["weight"] != "99"


@pytest.mark.parametrize("key", ["nope", "../supply_side", "supply_side.yaml", ""])
def test_unknown_template_keys_are_refused(key):
    with pytest.raises(TemplateNotFound):
        load_template(key)


@pytest.mark.parametrize("key", KEYS)
def test_a_full_marks_object_scores_100(key):
    """The trees fit the scoring method: full marks everywhere give a total of exactly 100.0."""
    def to_def(node: dict[str, Any]) -> IndicatorDef:
        return IndicatorDef(node["code"], Decimal(node["weight"]), Decimal(node["max_score"]), node["method"],
                            tuple(to_def(child) for child in node["children"]))

    tree = [to_def(node) for node in load_template(key)["indicators"]]
    leaves = [node for node in walk(load_template(key)["indicators"]) if not node["children"]]
    manual = {n["code"]: {"专家组": [Decimal(100)]} for n in leaves if n["method"] == "manual"}
    auto = {n["code"]: Decimal(100) for n in leaves if n["method"] == "auto"}
    result = score_object("GAT", tree, manual, auto, {"专家组": Decimal(100)})
    assert result.total == Decimal("100.0")


# ----------------------------------------------------------------------------- plans from templates

@pytest.mark.parametrize("key", KEYS)
def test_a_plan_built_from_the_template_passes_parse_plan(key, app: Flask, people):
    indicators = load_template(key)["indicators"]
    with app.app_context():
        plan = parse_plan(plan_payload(indicators=indicators))
    assert [i.code for i in plan.indicators] == [node["code"] for node in indicators]
    assert sum((i.weight for i in plan.indicators), Decimal(0)) == Decimal(100)


@pytest.mark.parametrize("key", KEYS)
def test_a_plan_created_from_the_template_keeps_it_intact(key, people, api_as):
    manager = api_as("manager")
    indicators = load_template(key)["indicators"]
    created = manager.post("/plans", plan_payload(indicators=indicators))
    assert created.status_code == 201, created.json
    assert manager.get(f"/plans/{created.json['id']}").json["indicators"] == indicators


# ----------------------------------------------------------------------------- malformed templates

def minimal() -> dict[str, Any]:
    return {
        "name": "测试模板", "description": "用于测试", "source": "测试",
        "indicators": [
            {"code": "X1", "name": "一级甲", "weight": 60, "method": "manual", "max_score": 100,
             "standard": "按下级指标计分。", "children": [
                 {"code": "X1.1", "name": "二级甲", "weight": 50, "method": "auto", "max_score": 100},
                 {"code": "X1.2", "name": "二级乙", "weight": 50, "method": "manual", "max_score": 100}]},
            {"code": "X2", "name": "一级乙", "weight": 40, "method": "manual", "max_score": 100},
        ],
    }


def write(tmp_path: Path, data: dict[str, Any]) -> Path:
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def test_the_minimal_template_is_valid(tmp_path):
    template = read_template(write(tmp_path, minimal()))
    assert [node["code"] for node in walk(template["indicators"])] == ["X1", "X1.1", "X1.2", "X2"]
    assert template["indicators"][0]["children"][0]["weight"] == "50"


def _children_sum_90(t: dict[str, Any]) -> None:
    t["indicators"][0]["children"][1]["weight"] = 40


def _top_sum_90(t: dict[str, Any]) -> None:
    t["indicators"][1]["weight"] = 30


def _duplicate_code(t: dict[str, Any]) -> None:
    t["indicators"][0]["children"][1]["code"] = "X1.1"


def _unknown_method(t: dict[str, Any]) -> None:
    t["indicators"][0]["children"][1]["method"] = "robot"


def _missing_method(t: dict[str, Any]) -> None:
    del t["indicators"][1]["method"]


def _missing_name(t: dict[str, Any]) -> None:
    del t["indicators"][0]["children"][1]["name"]


def _blank_name(t: dict[str, Any]) -> None:
    t["indicators"][1]["name"] = "  "


def _four_decimals(t: dict[str, Any]) -> None:
    t["indicators"][0]["children"][0]["weight"] = "49.9995"
    t["indicators"][0]["children"][1]["weight"] = "50.0005"


def _misspelt_field(t: dict[str, Any]) -> None:
    t["indicators"][1]["wieght"] = t["indicators"][1].pop("weight")


def _numeric_code(t: dict[str, Any]) -> None:
    t["indicators"][0]["children"][1]["code"] = 1.2


def _zero_weight(t: dict[str, Any]) -> None:
    t["indicators"][0]["children"][0]["weight"] = 0
    t["indicators"][0]["children"][1]["weight"] = 100


@pytest.mark.parametrize(("break_it", "names"), [
    (_children_sum_90, ["X1「一级甲」", "权重之和为 90"]),
    (_top_sum_90, ["一级指标权重之和为 90"]),
    (_duplicate_code, ["X1.1", "重复"]),
    (_unknown_method, ["X1.2「二级乙」", "robot"]),
    (_missing_method, ["X2「一级乙」", "method"]),
    (_missing_name, ["X1.2", "indicators[0].children[1]", "名称"]),
    (_blank_name, ["X2", "名称"]),
    (_four_decimals, ["X1.1「二级甲」", "三位小数"]),
    (_misspelt_field, ["X2「一级乙」", "wieght"]),
    (_numeric_code, ["二级乙", "indicators[0].children[1]", "编码"]),
    (_zero_weight, ["X1.1「二级甲」", "权重"]),
])
def test_a_malformed_template_names_the_node(tmp_path, break_it, names):
    template = minimal()
    break_it(template)
    with pytest.raises(ValueError, match=r"^broken\.yaml：") as raised:
        read_template(write(tmp_path, template))
    for name in names:
        assert name in str(raised.value)


def test_validation_works_on_parsed_data_and_bad_yaml(tmp_path):
    template = minimal()
    del template["indicators"][0]["children"][0]["name"]
    with pytest.raises(ValueError, match=r"^草稿：指标 X1\.1（indicators\[0\]\.children\[0\]）：名称"):
        validate_template(template, "草稿")
    with pytest.raises(ValueError, match="顶层"):
        validate_template(["not", "a", "mapping"])
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"^bad\.yaml：YAML 格式错误"):
        read_template(bad)


def test_a_plan_is_compiled_from_a_template_in_the_editor(people, login, api_as):
    client = login("manager")
    page = client.get("/plans/new?template=supply_side").get_data(as_text=True)
    assert "已载入模板" in page and 'value="服务方式完备度"' in page and 'name="ind-1-parent" value=""' in page
    assert client.get("/plans/new?template=nope").status_code == 404
    # The API hands out the same tree, ready to copy into a plan payload with the weights edited.
    template = api_as("manager").get("/indicator-templates/supply_side").json
    from tests.conftest import plan_payload
    created = api_as("manager").post("/plans", plan_payload(name="供给侧评估", indicators=template["indicators"]))
    assert created.status_code == 201, created.json
    codes = [i["code"] for i in api_as("manager").get(f"/plans/{created.json['id']}").json["indicators"]]
    assert codes == [i["code"] for i in template["indicators"]]
