"""Two-stage publication, appeals and re-evaluation (A2.7): windows, decisions, re-scored results."""
from __future__ import annotations

import io
from datetime import timedelta

import pytest
import sqlalchemy as sa
import time_machine

from app.extensions import db
from app.models import Notification, Plan, ResultSnapshot, User
from app.models.base import utcnow
from app.tasks import sweep_timers
from tests.conftest import plan_payload
from tests.test_scoring_round import publish

TREE = [{"code": "A", "name": "服务质量", "weight": 60, "max_score": 10},
        {"code": "B", "name": "规范管理", "weight": 40, "max_score": 10}]
EVALUATORS = [{"role": "evaluator", "weight": 100}]


@pytest.fixture
def scored(people, make_user, api_as, make_unit) -> int:
    """A published plan, fully scored by eva1 and eva2; CS has its own liaison."""
    make_user("eva1", "evaluator", unit="RST", name="评估一")
    make_user("eva2", "evaluator", unit="RST", name="评估二")
    make_user("unit_cs", "assessed_unit", unit="CS", name="长沙联络员")
    pid = publish(api_as, plan_payload(indicators=TREE, evaluators=EVALUATORS))
    for name, a in (("eva1", 6), ("eva2", 8)):
        for obj in ("GAT", "CS"):
            for code, score in (("A", a), ("B", 10)):
                assert api_as(name).post(f"/plans/{pid}/scores", {"object": obj, "indicator": code,
                                                                  "score": score}).status_code == 201
    return pid


def preliminary(api_as, pid: int, **window) -> dict:
    response = api_as("manager").post(f"/plans/{pid}/results/publish", {"stage": "preliminary", **(window or {
        "appeal_days": 5})})
    assert response.status_code == 200, response.json
    return dict(response.json)


def total(api, pid: int, obj: str) -> str:
    return next(r["total"] for r in api.get(f"/plans/{pid}/results").json["items"] if r["object"] == obj)


def complete(api, kind: str, data: dict) -> int:
    [task] = [t for t in api.get("/tasks?scope=candidate&process=appeal").json["items"] + api.get(
        "/tasks?scope=mine&process=appeal").json["items"] if t["name"] == kind][:1]
    return int(api.post(f"/tasks/{task['id']}/complete", {"data": data}).status_code)


def kinds(app, username: str) -> list[str]:
    with app.app_context():
        user = db.session.scalar(sa.select(User).where(User.username == username))
        return [n.title for n in db.session.scalars(sa.select(Notification).where(
            Notification.user_id == user.id).order_by(Notification.id))]


def test_preliminary_results_open_a_window_in_working_days(scored, api_as, app):
    assert api_as("unit_gat").get(f"/plans/{scored}/results").status_code == 403   # nothing published yet
    published = preliminary(api_as, scored)
    assert published["results_stage"] == "preliminary"
    # 5 working days, ending 23:59:59 Beijing time (15:59:59 UTC)
    assert published["appeal_deadline"].endswith("T15:59:59+00:00")
    own = api_as("unit_gat").get(f"/plans/{scored}/results").json["items"]
    assert [r["object"] for r in own] == ["GAT"] and own[0]["total"] == "82.0"   # 0.6 × A 70 + 0.4 × B 100
    with app.app_context():
        [snapshot] = db.session.scalars(sa.select(ResultSnapshot)).all()
        assert snapshot.stage == "preliminary" and len(snapshot.results) == 2
    assert any("初步结果已发布" in t for t in kinds(app, "unit_gat"))
    # scores are locked now: they change only through re-evaluation
    late = api_as("eva1").post(f"/plans/{scored}/scores", {"object": "GAT", "indicator": "A", "score": 9})
    assert late.status_code == 409


@pytest.mark.parametrize(("window", "field"), [
    ({}, "appeal_days"), ({"appeal_days": 5, "appeal_deadline": "2099-01-01"}, "appeal_days"),
    ({"appeal_days": 0}, "appeal_days"), ({"appeal_days": "x"}, "appeal_days"),
    ({"appeal_deadline": "2020-01-01"}, "appeal_deadline"), ({"appeal_deadline": "2027-13-01"}, "appeal_deadline"),
])
def test_a_bad_appeal_window_is_refused_and_nothing_is_published(scored, api_as, window, field):
    response = api_as("manager").post(f"/plans/{scored}/results/publish", {"stage": "preliminary", **window})
    assert response.status_code == 422 and field in response.json["errors"]
    assert api_as("manager").get(f"/plans/{scored}").json["results_stage"] is None


def test_an_accepted_appeal_is_reevaluated_confirmed_and_rescored(scored, api_as, app, client, make_user):
    make_user("eva3", "evaluator", unit="RST", name="评估三")
    preliminary(api_as, scored)
    unit = api_as("unit_gat")
    upload = unit.client.post("/api/v1/appeals", headers=unit.headers, content_type="multipart/form-data", data={
        "plan": str(scored), "object": "GAT", "indicator": "A", "reason": "响应记录有误，附工单截图",
        "files": (io.BytesIO(b"%PDF-1.4 evidence"), "工单截图.pdf")})
    assert upload.status_code == 201, upload.json
    appeal_id = upload.json["id"]
    appeal = unit.get(f"/appeals/{appeal_id}").json
    assert appeal["status"] == "pending" and appeal["score_before"] == "70.00" and len(appeal["files"]) == 1
    assert any("收到申诉" in t for t in kinds(app, "manager"))

    assert complete(api_as("manager"), "受理申诉", {"decision": "accept", "comment": "材料属实，组织复评"}) == 200
    assert unit.get(f"/appeals/{appeal_id}").json["status"] == "accepted"
    # the evaluators asked to re-evaluate may read the appeal; another evaluator may not
    assert api_as("eva1").get(f"/appeals/{appeal_id}").status_code == 200
    assert api_as("eva3").get(f"/appeals/{appeal_id}").status_code == 403
    # each original evaluator re-evaluates; a score above full marks is refused and records nothing
    assert complete(api_as("eva1"), "复评", {"score": 12, "comment": "x"}) == 422
    assert complete(api_as("eva1"), "复评", {"score": 9, "comment": "核实工单后调整"}) == 200
    assert complete(api_as("eva2"), "复评", {"score": "8.5", "comment": "同意调整"}) == 200
    assert total(api_as("manager"), scored, "GAT") == "82.0"          # nothing changes before confirmation
    assert complete(api_as("manager2"), "确认复评结果", {"decision": "confirm", "comment": ""}) == 200

    appeal = unit.get(f"/appeals/{appeal_id}").json
    assert appeal["status"] == "resolved" and appeal["score_after"] == "87.50"
    assert [(r["evaluator"], r["old"], r["score"]) for r in appeal["reevaluations"]] == [
        ("eva1", "6", "9"), ("eva2", "8", "8.5")]
    assert total(api_as("manager"), scored, "GAT") == "92.5"          # 0.6 × 87.5 + 40
    row = unit.get(f"/plans/{scored}/results").json["items"][0]
    evidence = next(i for i in row["indicators"] if i["code"] == "A")["evidence"]
    assert [e["kind"] for e in evidence] == ["entry", "entry", "appeal"]
    assert [e["score"] for e in evidence if e["kind"] == "entry"] == ["9", "8.5"]
    assert any("复评已完成" in body for body in _bodies(app, "unit_gat"))


def _bodies(app, username: str) -> list[str]:
    with app.app_context():
        user = db.session.scalar(sa.select(User).where(User.username == username))
        return [n.body for n in db.session.scalars(sa.select(Notification).where(Notification.user_id == user.id))]


def test_a_rejected_appeal_tells_the_unit_why_and_changes_nothing(scored, api_as, app):
    preliminary(api_as, scored)
    appeal_id = api_as("unit_gat").post("/appeals", {"plan": scored, "object": "GAT", "indicator": "B",
                                                      "reason": "不服"}).json["id"]
    assert complete(api_as("manager"), "受理申诉", {"decision": "reject"}) == 422      # a reason is required
    assert complete(api_as("manager"), "受理申诉", {"decision": "reject", "comment": "未提供证明材料"}) == 200
    appeal = api_as("unit_gat").get(f"/appeals/{appeal_id}").json
    assert appeal["status"] == "rejected" and appeal["decision_comment"] == "未提供证明材料"
    assert any("未提供证明材料" in b for b in _bodies(app, "unit_gat"))
    assert total(api_as("manager"), scored, "GAT") == "82.0"


def test_appeals_are_for_the_units_own_results_within_the_window(scored, api_as, app):
    body = {"plan": scored, "object": "GAT", "indicator": "A", "reason": "理由"}
    assert api_as("unit_gat").post("/appeals", body).status_code == 422             # not yet published
    preliminary(api_as, scored, appeal_days=1)
    assert api_as("unit_cs").post("/appeals", body).status_code == 403              # another unit's object
    assert api_as("manager").post("/appeals", body).status_code == 403
    for bad, field in (({"indicator": "Z"}, "indicator"), ({"reason": " "}, "reason"), ({"object": "XX"}, "object"),
                       ({"plan": 999999}, "plan")):
        response = api_as("unit_gat").post("/appeals", {**body, **bad})
        assert response.status_code == 422 and field in response.json["errors"], bad
    assert api_as("unit_gat").post("/appeals", body).status_code == 201
    assert api_as("unit_gat").post("/appeals", body).status_code == 409             # one open appeal per indicator
    with time_machine.travel(utcnow() + timedelta(days=10)):
        late = api_as("unit_gat").post("/appeals", {**body, "indicator": "B"})
        assert late.status_code == 422 and "届满" in late.json["errors"]["plan"][0]


def test_the_window_closes_by_its_timer_and_final_results_wait_for_every_appeal(scored, api_as, app):
    preliminary(api_as, scored, appeal_days=1)
    manager = api_as("manager")
    early = manager.post(f"/plans/{scored}/results/publish", {"stage": "final"})
    assert early.status_code == 409 and "期满后" in early.json["error"]
    api_as("unit_gat").post("/appeals", {"plan": scored, "object": "GAT", "indicator": "A", "reason": "理由"})
    with app.app_context(), time_machine.travel(utcnow() + timedelta(days=6)):
        assert sweep_timers() == 1                                   # the appeal-window timer fires, nobody clicks
    tasks = manager.get("/tasks?scope=candidate&process=plan_scoring").json["items"]
    assert [t["name"] for t in tasks] == ["发布最终结果"]
    pending = manager.post(f"/plans/{scored}/results/publish", {"stage": "final"})
    assert pending.status_code == 409 and "未办结" in pending.json["error"]
    complete(manager, "受理申诉", {"decision": "reject", "comment": "不予采纳"})
    final = manager.post(f"/plans/{scored}/results/publish", {"stage": "final"})
    assert final.status_code == 200 and final.json["results_stage"] == "final"
    with app.app_context():
        assert [s.stage for s in db.session.scalars(sa.select(ResultSnapshot).order_by(ResultSnapshot.id))] == [
            "preliminary", "final"]
        assert db.session.scalar(sa.select(Plan.results_stage).where(Plan.id == scored)) == "final"
    again = manager.post(f"/plans/{scored}/results/publish", {"stage": "final"})
    assert again.status_code == 409


def test_the_unit_files_an_appeal_from_its_results_page(scored, api_as, login):
    preliminary(api_as, scored)
    client = login("unit_gat")
    page = client.get(f"/plans/{scored}/results/GAT").get_data(as_text=True)
    assert f"/appeals/new?plan={scored}&amp;object=GAT&amp;indicator=A" in page
    form = client.get(f"/appeals/new?plan={scored}&object=GAT&indicator=A")
    assert form.status_code == 200
    empty = client.post("/appeals/new", data={"plan": scored, "object": "GAT", "indicator": "A", "reason": ""})
    assert empty.status_code == 422 and "须说明申诉理由" in empty.get_data(as_text=True)
    bad_file = client.post("/appeals/new", content_type="multipart/form-data", data={
        "plan": scored, "object": "GAT", "indicator": "A", "reason": "理由",
        "files": (io.BytesIO(b"MZ"), "tool.exe")})
    assert bad_file.status_code == 422 and "只接受" in bad_file.get_data(as_text=True)
    filed = client.post("/appeals/new", content_type="multipart/form-data", data={
        "plan": scored, "object": "GAT", "indicator": "A", "reason": "响应记录有误",
        "files": (io.BytesIO(b"%PDF-1.4 x"), "证明.pdf")})
    assert filed.status_code == 302
    shown = client.get(filed.headers["Location"]).get_data(as_text=True)
    assert "响应记录有误" in shown and "证明.pdf" in shown
