"""The process is the BPMN file: editing it changes behaviour with no Python change, and never
breaks an instance already running (it keeps the spec version it started with)."""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from app.extensions import db
from app.models import ProcessSpec
from tests.conftest import PROJECT, Api, make_app, plan_payload

LEADER_LANE = """      <bpmn:lane id="Lane_leader" name="领导">
        <bpmn:flowNodeRef>leader_review</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>gw_leader</bpmn:flowNodeRef>
      </bpmn:lane>
    </bpmn:laneSet>"""
LEADER_STEP = """    <bpmn:userTask id="leader_review" name="领导审批">
      <bpmn:extensionElements>
        <spiffworkflow:properties>
          <spiffworkflow:property name="formKey" value="plan_review"/>
        </spiffworkflow:properties>
      </bpmn:extensionElements>
      <bpmn:incoming>f_approve</bpmn:incoming>
      <bpmn:outgoing>f_leader_gw</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:exclusiveGateway id="gw_leader" default="f_leader_return">
      <bpmn:incoming>f_leader_gw</bpmn:incoming>
      <bpmn:outgoing>f_leader_approve</bpmn:outgoing>
      <bpmn:outgoing>f_leader_return</bpmn:outgoing>
    </bpmn:exclusiveGateway>
    <bpmn:sequenceFlow id="f_leader_gw" sourceRef="leader_review" targetRef="gw_leader"/>
    <bpmn:sequenceFlow id="f_leader_approve" sourceRef="gw_leader" targetRef="publish_plan">
      <bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">decision == "approve"</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="f_leader_return" sourceRef="gw_leader" targetRef="revise_plan"/>
  </bpmn:process>"""


def with_leader_review(source: str) -> str:
    """plan_approval.bpmn with a second review by a leader after the reviewer approves: XML only."""
    edited = source.replace("    </bpmn:laneSet>", LEADER_LANE, 1)
    replacements = [
        ('sourceRef="gw_review" targetRef="publish_plan"', 'sourceRef="gw_review" targetRef="leader_review"'),
        ("<bpmn:incoming>f_approve</bpmn:incoming>\n      <bpmn:outgoing>f_publish_end",
         "<bpmn:incoming>f_leader_approve</bpmn:incoming>\n      <bpmn:outgoing>f_publish_end"),
        ("<bpmn:incoming>f_return</bpmn:incoming>",
         "<bpmn:incoming>f_return</bpmn:incoming>\n      <bpmn:incoming>f_leader_return</bpmn:incoming>"),
    ]
    for old, new in replacements:
        assert old in edited, old
        edited = edited.replace(old, new)
    edited = edited.replace("  </bpmn:process>", LEADER_STEP, 1)
    assert edited.count("leader_review") >= 4
    return edited


@pytest.fixture
def leader_app(instance_dir: Path, app: Flask, tmp_path: Path) -> Flask:
    """A second app on the same database whose bpmn/ has the leader step."""
    bpmn_dir = tmp_path / "bpmn"
    shutil.copytree(PROJECT / "bpmn", bpmn_dir)
    source = (bpmn_dir / "plan_approval.bpmn").read_text(encoding="utf-8")
    (bpmn_dir / "plan_approval.bpmn").write_text(with_leader_review(source), encoding="utf-8")
    return make_app(instance_dir, BPMN_DIR=bpmn_dir)


def token_client(flask_app: Flask, username: str) -> Api:
    client = flask_app.test_client()
    response = client.post("/api/v1/auth/token", json={"username": username, "password": "Passw0rd!x"})
    return Api(client, response.json["token"])


def review(api: Api, decision: str) -> dict[str, Any]:
    [task] = api.get("/tasks?scope=candidate&process=plan_approval").json["items"]
    response = api.post(f"/tasks/{task['id']}/complete", {"data": {"decision": decision, "comment": "意见"}})
    assert response.status_code == 200, response.json
    return dict(task)


def test_a_leader_step_added_to_the_bpmn_takes_effect_without_python(people, leader_app):
    manager, reviewer, leader = (token_client(leader_app, u) for u in ("manager", "reviewer", "leader"))
    plan_id = manager.post("/plans", plan_payload()).json["id"]
    manager.post(f"/plans/{plan_id}/submit")
    review(reviewer, "approve")
    assert manager.get(f"/plans/{plan_id}").json["status"] == "in_review"   # not yet: the leader decides
    task = review(leader, "approve")
    assert task["name"] == "领导审批" and task["role"] == "leader"
    assert manager.get(f"/plans/{plan_id}").json["status"] == "published"


def test_a_running_instance_keeps_the_version_it_started_with(people, app, leader_app):
    old = {u: token_client(app, u) for u in ("manager", "reviewer")}
    plan_v1 = old["manager"].post("/plans", plan_payload()).json["id"]
    old["manager"].post(f"/plans/{plan_v1}/submit")

    # The BPMN changes (leader_app); the instance started before finishes on its own version.
    new = {u: token_client(leader_app, u) for u in ("manager", "reviewer", "leader")}
    review(new["reviewer"], "approve")
    assert new["manager"].get(f"/plans/{plan_v1}").json["status"] == "published"

    plan_v2 = new["manager"].post("/plans", plan_payload(name="新版本流程的计划")).json["id"]
    new["manager"].post(f"/plans/{plan_v2}/submit")
    review(new["reviewer"], "approve")
    assert new["manager"].get(f"/plans/{plan_v2}").json["status"] == "in_review"
    assert new["leader"].get("/tasks?scope=candidate").json["items"][0]["name"] == "领导审批"

    with leader_app.app_context():
        versions = db.session.scalars(sa.select(ProcessSpec.content_hash)
                                      .where(ProcessSpec.process_id == "plan_approval")).all()
    assert len(set(versions)) == 2


def test_the_diagram_served_is_the_version_the_instance_runs(people, app, leader_app):
    old = token_client(app, "manager")
    plan_id = old.post("/plans", plan_payload()).json["id"]
    instance_id = old.post(f"/plans/{plan_id}/submit").json["instance_id"]
    client = leader_app.test_client()
    client.post("/login", data={"username": "manager", "password": "Passw0rd!x"})
    xml = client.get(f"/instances/{instance_id}/diagram.bpmn").data.decode()
    assert "plan_approval" in xml and "leader_review" not in xml


def test_a_running_instance_keeps_the_forms_of_its_version(people, instance_dir, app, tmp_path):
    """Renaming a decision in the BPMN and its form must not turn an approval of an older case
    into a return: the forms are part of the version an instance pins."""
    bpmn_dir, forms_dir = tmp_path / "bpmn", tmp_path / "forms"
    shutil.copytree(PROJECT / "bpmn", bpmn_dir)
    shutil.copytree(PROJECT / "forms", forms_dir)
    old = token_client(app, "manager")
    plan_v1 = old.post("/plans", plan_payload()).json["id"]
    old.post(f"/plans/{plan_v1}/submit")

    bpmn = bpmn_dir / "plan_approval.bpmn"
    bpmn.write_text(bpmn.read_text(encoding="utf-8").replace('decision == "approve"', 'decision == "pass"'),
                    encoding="utf-8")
    form = forms_dir / "plan_review.yaml"
    form.write_text(form.read_text(encoding="utf-8").replace("[approve, 通过]", "[pass, 通过]"), encoding="utf-8")
    renamed = make_app(instance_dir, BPMN_DIR=bpmn_dir, FORMS_DIR=forms_dir)

    reviewer = token_client(renamed, "reviewer")
    [task] = reviewer.get("/tasks?scope=candidate&process=plan_approval").json["items"]
    choices = [c["value"] for c in reviewer.get(f"/tasks/{task['id']}").json["form"]["fields"][0]["choices"]]
    assert choices == ["approve", "return"]
    assert reviewer.post(f"/tasks/{task['id']}/complete", {"data": {"decision": "approve"}}).status_code == 200
    assert reviewer.get(f"/plans/{plan_v1}").json["status"] == "published"

    manager = token_client(renamed, "manager")
    plan_v2 = manager.post("/plans", plan_payload(name="新表单的计划")).json["id"]
    manager.post(f"/plans/{plan_v2}/submit")
    [task] = reviewer.get("/tasks?scope=candidate&process=plan_approval").json["items"]
    assert reviewer.post(f"/tasks/{task['id']}/complete", {"data": {"decision": "approve"}}).status_code == 422
    assert reviewer.post(f"/tasks/{task['id']}/complete", {"data": {"decision": "pass"}}).status_code == 200
    assert reviewer.get(f"/plans/{plan_v2}").json["status"] == "published"


def test_editing_only_a_form_makes_a_new_version(people, instance_dir, app, tmp_path):
    forms_dir = tmp_path / "forms"
    shutil.copytree(PROJECT / "forms", forms_dir)
    form = forms_dir / "plan_review.yaml"
    form.write_text(form.read_text(encoding="utf-8").replace("审核意见", "审核意见（修订）"), encoding="utf-8")
    edited = make_app(instance_dir, FORMS_DIR=forms_dir)
    with app.app_context():
        original = app.extensions["bpmn"].get("plan_approval").content_hash
    assert edited.extensions["bpmn"].get("plan_approval").content_hash != original
