"""Form specs (forms/*.yaml): what a bad file says, and how a submission is validated and cleaned."""
from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from app.formspec import FormSpec, FormSpecError, load_form_specs, validate_json
from tests.conftest import PROJECT

ALL_TYPES = """\
title: 测试表单
description: 每种字段类型各一个。
fields:
  - {name: title, type: string, label: 标题, max_length: 10}
  - {name: note, type: textarea, label: 说明}
  - {name: kind, type: choice, label: 类型, required: true, choices: [[a, 甲], [b, 乙]]}
  - {name: count, type: integer, label: 数量, min: 0, max: 10}
  - {name: amount, type: decimal, label: 金额}
  - {name: day, type: date, label: 日期}
  - {name: urgent, type: boolean, label: 加急}
  - {name: reason, type: textarea, label: 原因, required_when: {kind: b}}
"""


def write_spec(directory: Path, text: str, name: str = "demo") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def load_one(tmp_path: Path, text: str) -> FormSpec:
    write_spec(tmp_path / "forms", text)
    return load_form_specs(tmp_path / "forms")["demo"]


@pytest.fixture
def form_context(app: Flask) -> Iterator[None]:
    """Forms validate inside a request, as on the server (messages come out in Chinese)."""
    with app.test_request_context():
        yield


@pytest.fixture
def spec(tmp_path: Path) -> FormSpec:
    return load_one(tmp_path, ALL_TYPES)


def check(spec: FormSpec, data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, list[str]]]:
    return validate_json(spec, data)


# ----------------------------------------------------------------------------- loading

def test_repository_forms_load():
    specs = load_form_specs(PROJECT / "forms")
    assert specs["plan_review"].field_names == ["decision", "comment"]
    assert specs["plan_review"].fields[1].required_when == {"decision": "return"}
    assert specs["plan_revise"].fields[0].required is True


def test_a_spec_is_keyed_by_its_file_name_and_described_for_the_api(spec):
    described = spec.describe()
    assert described["key"] == "demo" and described["title"] == "测试表单"
    kind = next(f for f in described["fields"] if f["name"] == "kind")
    assert kind == {"name": "kind", "type": "choice", "label": "类型", "required": True,
                    "choices": [{"value": "a", "label": "甲"}, {"value": "b", "label": "乙"}],
                    "help": None, "max_length": None, "required_when": None}


@pytest.mark.parametrize("fields, message", [
    ("- {name: colour, type: color, label: 颜色}", "demo.yaml: field 'colour' has unknown type 'color'"),
    ("- {name: kind, type: choice, label: 类型}", "demo.yaml: choice field 'kind' needs choices"),
    ("- {name: kind, type: choice, label: 类型, choices: []}", "demo.yaml: choice field 'kind' needs choices"),
    ("- {name: a, type: string}\n- {name: b, type: string, required_when: {decison: x}}",
     "demo.yaml: b.required_when names unknown field 'decison'"),
    ("- {name: a, type: string, requird: true}", "demo.yaml: field 'a' has unknown keys ['requird']"),
    ("- {name: a, type: string}\n- {name: a, type: textarea}", "demo.yaml: duplicate field names"),
    ("- {name: a}", "demo.yaml: every field needs a name and a type"),
    ("- just a string", "demo.yaml: every field needs a name and a type"),
])
def test_load_errors_name_the_file_and_the_problem(tmp_path, fields, message):
    write_spec(tmp_path / "forms", "title: 表单\nfields:\n" + textwrap.indent(fields, "  ") + "\n")
    with pytest.raises(FormSpecError) as caught:
        load_form_specs(tmp_path / "forms")
    assert str(caught.value) == message


@pytest.mark.parametrize("text, message", [
    ("title: [unclosed\n", "demo.yaml: not valid YAML"),
    ("title: 没有字段\n", "demo.yaml: needs a title and a list of fields"),
    ("fields: {a: 1}\n", "demo.yaml: needs a title and a list of fields"),
    ("- a list\n", "demo.yaml: needs a title and a list of fields"),
])
def test_a_malformed_file_is_reported(tmp_path, text, message):
    write_spec(tmp_path / "forms", text)
    with pytest.raises(FormSpecError, match=message):
        load_form_specs(tmp_path / "forms")


# ----------------------------------------------------------------------------- validating a submission

def test_a_valid_submission_returns_every_declared_field(form_context, spec):
    cleaned, errors = check(spec, {"kind": "a"})
    assert errors == {}
    assert cleaned == {"title": None, "note": None, "kind": "a", "count": None, "amount": None, "day": None,
                       "urgent": False, "reason": None}


def test_required_field(form_context, spec):
    assert check(spec, {})[1] == {"kind": ["此项为必填项。"]}
    assert check(spec, {"kind": None})[1] == {"kind": ["此项为必填项。"]}


def test_choice_must_be_one_of_the_choices(form_context, spec):
    cleaned, errors = check(spec, {"kind": "c"})
    assert cleaned == {} and list(errors) == ["kind"]


def test_required_when_applies_only_under_its_condition(form_context, spec):
    assert check(spec, {"kind": "b"})[1] == {"reason": ["此种情况下必须填写此项。"]}
    assert check(spec, {"kind": "b", "reason": "   "})[1] == {"reason": ["此种情况下必须填写此项。"]}
    assert check(spec, {"kind": "b", "reason": "紧急"})[0]["reason"] == "紧急"
    assert check(spec, {"kind": "a"})[1] == {}


def test_max_length(form_context, spec):
    assert check(spec, {"kind": "a", "title": "一二三四五六七八九十"})[1] == {}
    assert check(spec, {"kind": "a", "title": "一二三四五六七八九十一"})[1] == {"title": ["最多 10 个字符。"]}


def test_numbers_and_dates_become_json_safe_values(form_context, spec):
    cleaned, errors = check(spec, {"kind": "a", "count": "7", "amount": "12.50", "day": "2027-03-01",
                                   "urgent": True})
    assert errors == {}
    assert cleaned["count"] == 7 and isinstance(cleaned["count"], int)
    assert cleaned["amount"] == "12.50"              # exact, as a string: no float rounding
    assert cleaned["day"] == "2027-03-01"
    assert cleaned["urgent"] is True
    assert json.loads(json.dumps(cleaned)) == cleaned


def test_json_numbers_are_accepted(form_context, spec):
    cleaned, errors = check(spec, {"kind": "a", "count": 3, "amount": 0.1})
    assert errors == {} and cleaned["count"] == 3 and cleaned["amount"] == "0.1"


@pytest.mark.parametrize("data, field", [
    ({"count": "7.5"}, "count"), ({"count": "seven"}, "count"), ({"count": 11}, "count"), ({"count": -1}, "count"),
    ({"amount": "12,50"}, "amount"), ({"day": "2027-02-30"}, "day"), ({"day": "01/03/2027"}, "day"),
])
def test_bad_numbers_and_dates_are_rejected(form_context, spec, data, field):
    cleaned, errors = check(spec, {"kind": "a", **data})
    assert cleaned == {} and list(errors) == [field]


def test_out_of_range_message(form_context, spec):
    assert check(spec, {"kind": "a", "count": 11})[1] == {"count": ["超出允许范围。"]}


def test_undeclared_fields_are_dropped(form_context, spec):
    cleaned, errors = check(spec, {"kind": "a", "case_status": "published", "__class__": "x", "title": "标题"})
    assert errors == {}
    assert set(cleaned) == set(spec.field_names) and cleaned["title"] == "标题"


def test_empty_strings_are_stored_as_none_and_text_is_trimmed(form_context, spec):
    cleaned, errors = check(spec, {"kind": "a", "title": "", "note": "  ", "reason": "  说明  "})
    assert errors == {}
    assert cleaned["title"] is None and cleaned["note"] is None and cleaned["reason"] == "说明"


def test_an_empty_optional_number_or_date_is_none(form_context, spec):
    cleaned, errors = check(spec, {"kind": "a", "count": "", "amount": "", "day": ""})
    assert errors == {} and (cleaned["count"], cleaned["amount"], cleaned["day"]) == (None, None, None)


def test_boolean_false_and_missing_are_false(form_context, spec):
    assert check(spec, {"kind": "a", "urgent": False})[0]["urgent"] is False
    assert check(spec, {"kind": "a"})[0]["urgent"] is False


# ----------------------------------------------------------------------------- found while writing the above

CONDITIONAL_NUMBER = """\
title: 条件数字
fields:
  - {name: kind, type: choice, label: 类型, required: true, choices: [[a, 甲], [b, 乙]]}
  - {name: count, type: integer, label: 数量, required_when: {kind: b}}
"""


@pytest.mark.parametrize("count", [5, "5", 0])
def test_required_when_works_on_a_number_field(form_context, tmp_path, count):
    conditional = load_one(tmp_path, CONDITIONAL_NUMBER)
    cleaned, errors = validate_json(conditional, {"kind": "b", "count": count})
    assert errors == {} and cleaned["count"] == int(count)


def test_an_empty_conditional_number_is_fine_when_not_required(form_context, tmp_path):
    conditional = load_one(tmp_path, CONDITIONAL_NUMBER)
    cleaned, errors = validate_json(conditional, {"kind": "a", "count": ""})
    assert errors == {} and cleaned["count"] is None


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-inf"])
def test_a_decimal_field_refuses_non_finite_numbers(form_context, spec, value):
    assert list(check(spec, {"kind": "a", "amount": value})[1]) == ["amount"]


@pytest.mark.parametrize("value", ["false", "0"])
def test_a_boolean_given_as_the_string_false_is_not_true(form_context, spec, value):
    cleaned, errors = check(spec, {"kind": "a", "urgent": value})
    assert errors or cleaned["urgent"] is False
