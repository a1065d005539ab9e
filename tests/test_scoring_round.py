"""The scoring round (BPMN plan_scoring): tasks per evaluator, the entry grid, publication of results."""
from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import HumanTask, Plan, Role, ScoreEntry, TaskStatus, User
from tests.conftest import plan_payload

TREE = [
    {"code": "A", "name": "服务质量", "weight": 60, "children": [
        {"code": "A1", "name": "响应及时", "weight": 50, "max_score": 10},
        {"code": "A2", "name": "服务态度", "weight": 50, "max_score": 10,
         "input": {"kind": "grades", "choices": [{"label": "好", "score": 10}, {"label": "中", "score": 6},
                                                 {"label": "差", "score": 2}]}}]},
    {"code": "B", "name": "规范管理", "weight": 40, "max_score": 20,
     "input": {"kind": "deductions",
               "items": [{"label": "未按时上报", "points": 5}, {"label": "资料缺失", "points": 3}]}},
]
# eva1, eva2 hold the evaluator role; "expert" is named; "gone" is an inactive evaluator.
EVALUATORS = [{"role": "evaluator", "weight": 70}, {"username": "expert", "weight": 30}]


def publish(api_as, payload: dict) -> int:
    """Draft, submit and approve a plan: its scoring round starts."""
    manager = api_as("manager")
    created = manager.post("/plans", payload)
    assert created.status_code == 201, created.json
    pid = int(created.json["id"])
    manager.post(f"/plans/{pid}/submit")
    reviewer = api_as("reviewer")
    [task] = reviewer.get("/tasks?scope=candidate&process=plan_approval").json["items"]
    assert reviewer.post(f"/tasks/{task['id']}/complete", {"data": {"decision": "approve"}}).status_code == 200
    return pid


@pytest.fixture
def plan_id(people, make_user, api_as, app) -> int:
    make_user("eva1", Role.EVALUATOR, unit="RST", name="评估一")
    make_user("eva2", Role.EVALUATOR, unit="RST", name="评估二")
    make_user("expert", Role.EVALUATOR, Role.REVIEWER, unit="ZJ", name="专家")   # first group wins: the role
    gone = make_user("gone", Role.EVALUATOR, unit="RST", name="已停用")
    with app.app_context():
        db.session.get(User, gone.id).active = False   # type: ignore[union-attr]
        db.session.commit()
    return publish(api_as, plan_payload(indicators=TREE, evaluators=EVALUATORS,
                                        payment_bands=[{"min": 60, "ratio": 1}]))


def scoring_tasks(app, pid: int) -> dict[str, str]:
    with app.app_context():
        plan = db.session.get(Plan, pid)
        rows = db.session.scalars(sa.select(HumanTask).where(HumanTask.instance_id == plan.scoring_instance_id)
                                  .order_by(HumanTask.id)).all()
        return {f"{r.bpmn_id}:{r.assignee.username if r.assignee else '-'}": r.status for r in rows}


def full_scores(api, pid: int, a1: str = "8") -> None:
    for obj in ("GAT", "CS"):
        assert api.post(f"/plans/{pid}/scores", {"object": obj, "indicator": "A1", "score": a1}).status_code == 201
        assert api.post(f"/plans/{pid}/scores", {"object": obj, "indicator": "A2", "grade": "中"}).status_code == 201
        body = {"object": obj, "indicator": "B", "deductions": ["资料缺失"]}
        assert api.post(f"/plans/{pid}/scores", body).status_code == 201


def test_publication_gives_every_evaluator_one_scoring_task(plan_id, app, api_as):
    assert scoring_tasks(app, plan_id) == {
        "score_plan:eva1": "open", "score_plan:eva2": "open", "score_plan:expert": "open"}
    mine = api_as("eva1").get("/tasks?scope=mine").json["items"]
    assert [(t["name"], t["process_id"]) for t in mine] == [("考核评分", "plan_scoring")]
    assert mine[0]["due_at"] is not None
    # The approval instance ended at publication; the round is its own instance.
    plan = api_as("manager").get(f"/plans/{plan_id}").json
    assert api_as("manager").get(f"/instances/{plan['instance_id']}").json["status"] == "completed"


def test_the_last_score_in_completes_the_task_and_then_the_office_publishes(plan_id, app, api_as):
    for name in ("eva1", "eva2"):
        full_scores(api_as(name), plan_id)
    assert scoring_tasks(app, plan_id)["score_plan:eva1"] == "completed"
    assert "publish_results:-" not in scoring_tasks(app, plan_id)      # expert has not scored yet
    results = api_as("manager").get(f"/plans/{plan_id}/results").json["items"]
    # expert's group has no submissions: left out, the evaluator group's weight renormalised.
    # A1 8/10 → 80, A2 中 6/10 → 60, B 20 − 3 = 17/20 → 85; total 0.6 × 70 + 0.4 × 85 = 76.0
    assert {r["object"]: r["total"] for r in results} == {"GAT": "76.0", "CS": "76.0"}

    full_scores(api_as("expert"), plan_id, a1="10")
    tasks = scoring_tasks(app, plan_id)
    assert tasks["score_plan:expert"] == "completed" and tasks["publish_results:-"] == "open"

    assert api_as("manager").get(f"/plans/{plan_id}").json["results_stage"] is None


def test_generic_completion_of_a_page_task_is_refused(plan_id, api_as):
    [task] = api_as("eva1").get("/tasks?scope=mine").json["items"]
    response = api_as("eva1").post(f"/tasks/{task['id']}/complete", {"data": {}})
    assert response.status_code == 409
    assert "办理页面" in response.json["error"]


def test_adapter_inputs_are_checked(plan_id, api_as):
    api = api_as("eva1")
    cases = [({"indicator": "A2", "grade": "优"}, "grade"), ({"indicator": "A2", "score": 7}, "score"),
             ({"indicator": "B", "deductions": ["迟到"]}, "deductions"), ({"indicator": "A1", "score": 11}, "score"),
             ({"indicator": "A1"}, "score")]
    for body, field in cases:
        response = api.post(f"/plans/{plan_id}/scores", {"object": "GAT", **body})
        assert response.status_code == 422, body
        assert field in response.json["errors"], body
    # a grade's points are accepted as a score too, and recorded as that grade
    assert api.post(f"/plans/{plan_id}/scores", {"object": "GAT", "indicator": "A2", "score": 6}).status_code == 201


# ----------------------------------------------------------------------------- the grid (pages)

def grid_form(page: str, **values: str) -> dict[str, object]:
    """Every cell of the page's grid as the browser would post it, overridden by ``values``."""
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    form: dict[str, object] = {"csrf_token": token}
    for name in re.findall(r'name="(c-\d+-\d+(?::deductions)?)"', page):
        form[name] = values.get(name, "")
    form.update(values)
    return form


def cell_names(app, pid: int) -> dict[tuple[str, str], str]:
    with app.app_context():
        plan = db.session.get(Plan, pid)
        return {(o.unit.code, i.code): f"c-{o.unit_id}-{i.id}" for o in plan.objects for i in plan.indicators}


def test_grid_drafts_count_for_nothing_and_a_submission_must_be_complete(plan_id, app, login):
    cells = cell_names(app, plan_id)
    client = login("eva1")
    page = client.get(f"/plans/{plan_id}/score")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "响应及时" in html and "未按时上报" in html and "好（10 分）" in html

    draft = grid_form(html, **{cells[("GAT", "A1")]: "9", cells[("GAT", "A2")]: "好", "action": "draft"})
    assert client.post(f"/plans/{plan_id}/score", data=draft).status_code == 302
    with app.app_context():
        entries = db.session.scalars(sa.select(ScoreEntry).where(ScoreEntry.plan_id == plan_id)).all()
        # drafts: GAT A1, GAT A2, and every deduction cell (unticked = full marks)
        assert sorted((e.score, e.submitted) for e in entries) == sorted(
            [(9, False), (10, False), (20, False), (20, False)])
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(ScoreEntry).where(ScoreEntry.submitted)) == 0

    client = login("eva1")
    html = client.get(f"/plans/{plan_id}/score").get_data(as_text=True)
    assert 'value="9"' in html   # the draft is shown again
    incomplete = grid_form(html, **{cells[("GAT", "A1")]: "9", cells[("GAT", "A2")]: "好",
                                    cells[("CS", "A1")]: "12", "action": "submit"})
    response = client.post(f"/plans/{plan_id}/score", data=incomplete)
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert "提交前须填写此项" in body and "须在 0 到 10 之间" in body
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(ScoreEntry).where(ScoreEntry.submitted)) == 0

    complete = grid_form(html, **{cells[("GAT", "A1")]: "9", cells[("GAT", "A2")]: "好", cells[("CS", "A1")]: "7",
                                  cells[("CS", "A2")]: "差", cells[("CS", "B")] + ":item": "未按时上报",
                                  "action": "submit"})
    assert client.post(f"/plans/{plan_id}/score", data=complete).status_code == 302
    with app.app_context():
        scores = {(e.object.code, e.indicator.code): (e.score, e.submitted, e.detail) for e in db.session.scalars(
            sa.select(ScoreEntry).where(ScoreEntry.plan_id == plan_id))}
    assert scores[("CS", "B")] == (15, True, {"deductions": ["未按时上报"]})
    assert scores[("CS", "A2")] == (2, True, {"grade": "差"})
    assert scores[("GAT", "B")] == (20, True, {"deductions": []})
    assert scoring_tasks(app, plan_id)["score_plan:eva1"] == TaskStatus.COMPLETED


def test_the_task_page_opens_the_grid_and_a_draft_cannot_overwrite_a_submitted_score(plan_id, app, api_as, login):
    [task] = api_as("eva2").get("/tasks?scope=mine").json["items"]
    client = login("eva2")
    opened = client.get(f"/tasks/{task['id']}")
    assert opened.status_code == 302 and opened.headers["Location"].endswith(f"/plans/tasks/{task['id']}")
    assert client.get(opened.headers["Location"]).headers["Location"].endswith(f"/plans/{plan_id}/score")

    api_as("eva2").post(f"/plans/{plan_id}/scores", {"object": "GAT", "indicator": "A1", "score": 5})
    cells = cell_names(app, plan_id)
    html = client.get(f"/plans/{plan_id}/score").get_data(as_text=True)
    response = client.post(f"/plans/{plan_id}/score", data=grid_form(html, **{cells[("GAT", "A1")]: "6",
                                                                              "action": "draft"}))
    assert response.status_code == 422
    assert "此项已提交" in response.get_data(as_text=True)


def test_publication_is_refused_while_results_are_incomplete_and_locks_scores_after(plan_id, app, api_as, login):
    for name in ("eva1", "eva2", "expert"):
        full_scores(api_as(name), plan_id)
    manager = login("manager")
    page = manager.get(f"/plans/{plan_id}/publish").get_data(as_text=True)
    assert "可以发布" in page and "评估一" in page
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    published = manager.post(f"/plans/{plan_id}/publish", data={"csrf_token": token, "stage": "preliminary",
                                                                 "window": "days", "appeal_days": "5"})
    assert published.status_code == 302
    plan = api_as("manager").get(f"/plans/{plan_id}").json
    assert plan["results_stage"] == "preliminary"
    assert scoring_tasks(app, plan_id)["publish_results:manager"] == "completed"
    late = api_as("eva1").post(f"/plans/{plan_id}/scores", {"object": "GAT", "indicator": "A1", "score": 1})
    assert late.status_code == 409


def test_an_incomplete_result_blocks_publication(people, make_user, api_as, app, login):
    """An automatic indicator without collected data leaves the result incomplete."""
    make_user("eva1", Role.EVALUATOR, unit="RST", name="评估一")
    tree = [{"code": "M", "name": "手工", "weight": 50}, {"code": "X", "name": "自动", "weight": 50, "method": "auto"}]
    pid = publish(api_as, plan_payload(indicators=tree, evaluators=[{"role": "evaluator", "weight": 100}],
                                       objects=["GAT"]))
    scored = api_as("eva1").post(f"/plans/{pid}/scores", {"object": "GAT", "indicator": "M", "score": 80})
    assert scored.status_code == 201
    client = login("manager")
    page = client.get(f"/plans/{pid}/publish").get_data(as_text=True)
    assert "结果不完整" in page
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    response = client.post(f"/plans/{pid}/publish", data={"csrf_token": token, "stage": "preliminary",
                                                          "appeal_days": "5"}, follow_redirects=True)
    assert "结果不完整" in response.get_data(as_text=True)
    assert api_as("manager").get(f"/plans/{pid}").json["results_stage"] is None


def test_a_plan_without_manual_indicators_goes_straight_to_publication(people, api_as, app):
    pid = publish(api_as, plan_payload(indicators=[{"code": "X", "name": "自动", "weight": 100, "method": "auto"}]))
    assert scoring_tasks(app, pid) == {"publish_results:-": "open"}
