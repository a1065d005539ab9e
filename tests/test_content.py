"""The repository's BPMN and form content, the parse-time checks, and the restricted script engine."""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.spiff.parser import VALIDATOR, SpiffBpmnParser

from app.content_check import check_content
from app.formspec import load_form_specs
from app.roles import role_for_lane
from app.workflow.engine import SCRIPT_ENGINE
from app.workflow.specs import SpecError, parse_directory
from tests.conftest import PROJECT

BPMN_DIR, FORMS_DIR, REPORTS_DIR = PROJECT / "bpmn", PROJECT / "forms", PROJECT / "reports"
FIXTURES = Path(__file__).parent / "bpmn"
BPMN_FILES = sorted(BPMN_DIR.glob("*.bpmn"))
BPMN_NS = "{http://www.omg.org/spec/BPMN/20100524/MODEL}"


# ----------------------------------------------------------------------------- the repository's content

def test_there_is_content_to_check():
    assert [p.name for p in BPMN_FILES] and list(FORMS_DIR.glob("*.yaml"))


@pytest.mark.parametrize("path", BPMN_FILES, ids=lambda p: p.name)
def test_every_bpmn_file_parses_with_the_validator(path):
    loaded = parse_directory(BPMN_DIR)        # the whole folder: a call activity may use another file
    own = [spec for spec in loaded.values() if spec.files[0] == path]
    assert own, f"{path.name} has no executable process"


def test_every_user_task_names_an_existing_form():
    forms = load_form_specs(FORMS_DIR)
    for spec in parse_directory(BPMN_DIR).values():
        for task in spec.user_tasks.values():
            assert task.form_key in forms, f"{spec.process_id}/{task.bpmn_id}: form {task.form_key!r}"


def test_every_form_is_used_by_some_user_task():
    used = {t.form_key for spec in parse_directory(BPMN_DIR).values() for t in spec.user_tasks.values()}
    assert set(load_form_specs(FORMS_DIR)) <= used


def test_every_lane_maps_to_a_known_role():
    """Unless the task names its role from data (``candidateRole``) or goes to a named user (``assignee``)."""
    for spec in parse_directory(BPMN_DIR).values():
        for task in spec.user_tasks.values():
            if {"assignee", "candidateRole"} & set(task.properties):
                continue
            assert role_for_lane(task.lane) is not None, f"{spec.process_id}/{task.bpmn_id}: lane {task.lane!r}"


def test_lanes_are_named_by_role_key_or_chinese_label():
    assert role_for_lane("审核人") == role_for_lane("reviewer") == "reviewer"
    assert role_for_lane(" 被考核单位 ") == "assessed_unit"
    assert role_for_lane("财务处") is None and role_for_lane(None) is None


def test_check_content_finds_no_problem_in_the_repository():
    assert check_content(BPMN_DIR, FORMS_DIR, REPORTS_DIR) == []


# ----------------------------------------------------------------------------- broken content is reported clearly

@pytest.fixture
def bpmn_copy(tmp_path: Path) -> Path:
    target = tmp_path / "bpmn"
    shutil.copytree(BPMN_DIR, target)
    return target


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_not_well_formed_xml_names_the_file_and_line(bpmn_copy):
    path = bpmn_copy / "plan_approval.bpmn"
    lines = path.read_text(encoding="utf-8").splitlines()
    broken_line = next(i for i, line in enumerate(lines, 1) if '<bpmn:userTask id="review_plan"' in line)
    edit(path, '<bpmn:userTask id="review_plan" name="审核考核计划">', '<bpmn:userTask id="review_plan" name="审核>')
    with pytest.raises(SpecError) as caught:
        parse_directory(bpmn_copy)
    message = str(caught.value)
    assert "plan_approval.bpmn" in message and "not well-formed XML" in message
    line = int(message.split(" line ", 1)[1].split(":", 1)[0])
    assert broken_line <= line <= broken_line + 2, message


def test_a_syntax_error_in_a_gateway_condition_is_caught_at_parse_time(bpmn_copy):
    edit(bpmn_copy / "plan_approval.bpmn", 'decision == "approve"', 'decision = "approve"')
    with pytest.raises(SpecError) as caught:
        parse_directory(bpmn_copy)
    message = str(caught.value)
    assert "plan_approval.bpmn: gateway condition on 'gw_review'" in message
    assert "decision = \"approve\"" in message


def test_a_syntax_error_in_a_script_is_caught_at_parse_time(bpmn_copy):
    edit(bpmn_copy / "plan_approval.bpmn", 'case_status = "published"', 'case_status = "published')
    with pytest.raises(SpecError, match="script on 'publish_plan'"):
        parse_directory(bpmn_copy)


def test_a_syntax_error_in_a_pre_script_is_caught_at_parse_time(bpmn_copy):
    edit(bpmn_copy / "plan_approval.bpmn", 'case_status = "in_review"', 'case_status == = "in_review"')
    with pytest.raises(SpecError, match="prescript on 'review_plan'"):
        parse_directory(bpmn_copy)


def test_a_schema_violation_names_the_file(bpmn_copy):
    edit(bpmn_copy / "plan_approval.bpmn", '<bpmn:startEvent id="start" name="提交审核">',
         '<bpmn:startEvent id="start" name="提交审核"><bpmn:bogusElement/>')
    with pytest.raises(SpecError, match="plan_approval.bpmn"):
        parse_directory(bpmn_copy)


def test_check_content_reports_an_unknown_lane_and_a_missing_form_key(bpmn_copy, tmp_path):
    path = bpmn_copy / "plan_approval.bpmn"
    edit(path, '<bpmn:lane id="Lane_reviewer" name="审核人">', '<bpmn:lane id="Lane_reviewer" name="财务处">')
    edit(path, '<spiffworkflow:property name="formKey" value="plan_review"/>', "")
    problems = check_content(bpmn_copy, FORMS_DIR, tmp_path / "no-reports")
    assert "plan_approval.bpmn / review_plan: lane '财务处' names no known role" in problems
    assert "plan_approval.bpmn / review_plan: user task has no formKey property" in problems
    assert "forms/plan_review.yaml is not used by any user task" in problems


def test_check_content_reports_a_report_folder_without_template(tmp_path):
    (tmp_path / "reports" / "monthly").mkdir(parents=True)
    assert check_content(BPMN_DIR, FORMS_DIR, tmp_path / "reports") == ["reports/monthly: template.html missing"]


# ----------------------------------------------------------------------------- the restricted script engine

def run_script(script: str) -> dict[str, Any]:
    """Run tests/bpmn/script_sandbox.bpmn with ``script`` in its script task; the workflow's data."""
    tree = etree.parse(str(FIXTURES / "script_sandbox.bpmn"))
    tree.find(f".//{BPMN_NS}script").text = script
    parser = SpiffBpmnParser(validator=VALIDATOR)
    parser.add_bpmn_xml(tree, filename="script_sandbox.bpmn")
    workflow = BpmnWorkflow(parser.get_spec("script_sandbox"), script_engine=SCRIPT_ENGINE)
    workflow.do_engine_steps()
    assert workflow.is_completed()
    return dict(workflow.data)


def test_plain_scripts_run():
    assert run_script("result = sum(x * 2 for x in range(4))")["result"] == 12
    assert run_script("result = sorted({'b': 1, 'a': 2})")["result"] == ["a", "b"]


@pytest.mark.parametrize("script, why", [
    ("import os", "import/global statements are not allowed"),
    ("from os import path", "import/global statements are not allowed"),
    ("result = open('/etc/passwd').read()", "name 'open' is not defined"),
    ("result = ().__class__.__base__.__subclasses__()", "not allowed"),
    ("result = __import__('os')", "name '__import__' is not allowed"),
    ("result = getattr((), '__class__')", "dunder"),
    ("result = eval('1')", "name 'eval' is not defined"),
    ("result = type(())", "name 'type' is not defined"),
])
def test_dangerous_scripts_are_refused(script, why):
    with pytest.raises(WorkflowTaskException) as caught:
        run_script(script)
    assert why in str(caught.value)


def test_frame_introspection_cannot_reach_the_real_builtins():
    escape = (
        "def gen():\n"
        "    yield g.gi_frame.f_back.f_back.f_globals\n"
        "g = gen()\n"
        "found = list(g)[0]['__builtins__']['__import__']('os').sep\n"
    )
    with pytest.raises(WorkflowTaskException):
        run_script(escape)
