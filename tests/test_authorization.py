"""Who may open which page and call which endpoint.

Every route has at least one test with a user who is allowed and one with a user who is refused:
anonymous visitors are sent to /login (pages) or get 401 (API); the wrong role or the wrong unit
gets 403 (404 where the code deliberately answers that). ``COVERED`` at the bottom names those
tests per route, and ``test_every_route_has_an_authorization_test`` fails when a route is added
without them.
"""
from __future__ import annotations

import io
import shutil
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
import time_machine
from flask import Flask
from flask.testing import FlaskClient

from app.database import write_transaction
from app.extensions import db
from app.models import HumanTask, Plan, Rectification, Role, Unit, User
from app.workflow import runtime
from tests.conftest import PASSWORD, PROJECT, Api, make_app, plan_payload, set_results_stage

FIXTURES = Path(__file__).parent / "bpmn"


# ----------------------------------------------------------------------------- helpers

def draft_plan(api_as: Callable[[str], Api], author: str = "manager") -> int:
    created = api_as(author).post("/plans", plan_payload())
    assert created.status_code == 201, created.json
    return int(created.json["id"])


def submitted_plan(api_as: Callable[[str], Api]) -> tuple[int, int, int]:
    """A plan under review: (plan id, instance id, id of the open review task)."""
    plan_id = draft_plan(api_as)
    submitted = api_as("manager").post(f"/plans/{plan_id}/submit")
    assert submitted.status_code == 201, submitted.json
    tasks = api_as("reviewer").get("/tasks?scope=candidate").json["items"]
    assert len(tasks) == 1
    return plan_id, submitted.json["instance_id"], tasks[0]["id"]


def task_row(app: Flask, task_id: int) -> HumanTask:
    with app.app_context():
        task = db.session.get(HumanTask, task_id)
        assert task is not None
        task.assignee, task.completed_by  # noqa: B018  (load while the session is open)
        return task


def assignee_of(app: Flask, task_id: int) -> str | None:
    task = task_row(app, task_id)
    return task.assignee.username if task.assignee else None


def is_login_redirect(response: Any) -> bool:
    return response.status_code == 302 and response.headers["Location"].startswith("/login")


def plan_form(name: str = "表单制定的计划") -> dict[str, Any]:
    """What the plan editor posts: flat indicator and evaluator rows."""
    return {
        "name": name, "cycle": "year", "period_start": "2027-01-01", "period_end": "2027-12-31",
        "ind-0-code": "A", "ind-0-parent": "", "ind-0-name": "服务质量", "ind-0-weight": "100",
        "ind-0-method": "manual", "ind-0-max_score": "100", "ind-0-standard": "",
        "ev-0-kind": "role", "ev-0-ref": "evaluator", "ev-0-weight": "100",
        "objects": ["GAT"],
    }


def unit_id(app: Flask, code: str) -> int:
    with app.app_context():
        return int(db.session.scalar(sa.select(Unit.id).where(Unit.code == code)))


def user_id(app: Flask, username: str) -> int:
    with app.app_context():
        return int(db.session.scalar(sa.select(User.id).where(User.username == username)))


# ----------------------------------------------------------------------------- login, logout, language

def test_login_page_is_public_and_a_wrong_password_is_refused(people, client):
    assert client.get("/login").status_code == 200
    refused = client.post("/login", data={"username": "reviewer", "password": "wrong-password"})
    assert refused.status_code == 401
    assert "用户名或密码错误" in refused.get_data(as_text=True)
    assert is_login_redirect(client.get("/inbox"))


def test_login_with_the_right_password_opens_the_inbox(people, client):
    response = client.post("/login", data={"username": "reviewer", "password": PASSWORD})
    assert response.status_code == 302 and response.headers["Location"] == "/inbox"
    assert client.get("/inbox").status_code == 200


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/", "/\\evil.example/",
                                    "/\t/evil.example/", "javascript:alert(1)"])
def test_login_never_redirects_off_site(people, client, target):
    response = client.post("/login", query_string={"next": target},
                           data={"username": "reviewer", "password": PASSWORD})
    location = response.headers["Location"]
    assert response.status_code == 302 and location.startswith("/") and not location.startswith("//")
    assert "\\" not in location and urlsplit(location).netloc == ""


def test_deactivated_user_cannot_log_in(people, client, app):
    with app.app_context(), write_transaction():
        db.session.scalar(sa.select(User).where(User.username == "reviewer")).active = False
    assert client.post("/login", data={"username": "reviewer", "password": PASSWORD}).status_code == 401


def test_logout_requires_a_session_and_ends_it(people, client, login):
    assert is_login_redirect(client.post("/logout"))
    login("reviewer")
    assert client.get("/inbox").status_code == 200
    assert is_login_redirect(client.post("/logout"))
    assert is_login_redirect(client.get("/inbox"))


def test_language_switch_is_public_but_only_sets_known_languages(client):
    """Deliberately open to anonymous visitors (the login page has the switch too)."""
    chosen = client.post("/lang/en", data={"next": "/login"})
    assert chosen.status_code == 302 and chosen.headers["Location"] == "/login"
    assert "lang=en" in chosen.headers.get("Set-Cookie", "")
    unknown = client.post("/lang/xx", data={"next": "https://evil.example/"})
    assert unknown.status_code == 302 and unknown.headers["Location"] == "/inbox"
    assert "Set-Cookie" not in unknown.headers


# ----------------------------------------------------------------------------- inbox pages

def test_home_redirects_to_the_inbox_only_when_logged_in(people, client, login):
    assert is_login_redirect(client.get("/"))
    login("reviewer")
    response = client.get("/")
    assert response.status_code == 302 and response.headers["Location"] == "/inbox"


def test_inbox_needs_login_and_shows_only_the_users_tasks(people, client, login, api_as):
    submitted_plan(api_as)
    assert is_login_redirect(client.get("/inbox?scope=candidate"))
    login("reviewer")
    assert "审核考核计划" in client.get("/inbox?scope=candidate").get_data(as_text=True)
    login("unit_gat")
    page = client.get("/inbox?scope=candidate")
    assert page.status_code == 200 and "审核考核计划" not in page.get_data(as_text=True)
    assert client.get("/inbox?scope=everything").status_code == 404


def test_task_page_is_for_users_of_the_tasks_role(people, client, login, api_as):
    _, _, task_id = submitted_plan(api_as)
    assert is_login_redirect(client.get(f"/tasks/{task_id}"))
    login("reviewer")
    page = client.get(f"/tasks/{task_id}")
    assert page.status_code == 200 and "审核结论" in page.get_data(as_text=True)
    for other in ("unit_gat", "leader", "manager2"):
        login(other)
        assert client.get(f"/tasks/{task_id}").status_code == 403, other
    assert client.get("/tasks/999999").status_code == 404


def test_task_page_of_a_task_claimed_by_someone_else_shows_no_form(people, client, login, api_as):
    _, _, task_id = submitted_plan(api_as)
    api_as("reviewer").post(f"/tasks/{task_id}/claim")
    login("reviewer2")
    page = client.get(f"/tasks/{task_id}").get_data(as_text=True)
    assert "此任务已由 李审核 认领，您不能办理" in page
    assert 'name="decision"' not in page


def test_task_form_post_is_refused_to_other_roles(people, client, login, api_as, app):
    _, instance_id, task_id = submitted_plan(api_as)
    data = {"decision": "approve"}
    assert is_login_redirect(client.post(f"/tasks/{task_id}", data=data))
    login("unit_gat")
    assert client.post(f"/tasks/{task_id}", data=data).status_code == 403
    assert task_row(app, task_id).status == "open"
    login("reviewer")
    done = client.post(f"/tasks/{task_id}", data=data)
    assert done.status_code == 302 and done.headers["Location"] == f"/instances/{instance_id}"
    assert task_row(app, task_id).status == "completed"


def test_task_form_post_on_a_task_claimed_by_someone_else_changes_nothing(people, client, login, api_as, app):
    _, _, task_id = submitted_plan(api_as)
    api_as("reviewer").post(f"/tasks/{task_id}/claim")
    login("reviewer2")
    response = client.post(f"/tasks/{task_id}", data={"decision": "approve"}, follow_redirects=True)
    assert "此任务已由 李审核 认领" in response.get_data(as_text=True)
    assert task_row(app, task_id).status == "open"


def test_claim_page_action_is_for_qualified_users_only(people, client, login, api_as, app):
    _, _, task_id = submitted_plan(api_as)
    assert is_login_redirect(client.post(f"/tasks/{task_id}/claim"))
    login("unit_gat")
    assert client.post(f"/tasks/{task_id}/claim").status_code == 403
    assert assignee_of(app, task_id) is None
    login("reviewer")
    assert client.post(f"/tasks/{task_id}/claim").status_code == 302
    assert assignee_of(app, task_id) == "reviewer"
    login("reviewer2")  # qualified, but the task is taken: a warning, not a takeover
    taken = client.post(f"/tasks/{task_id}/claim", follow_redirects=True)
    assert "此任务已由 李审核 认领" in taken.get_data(as_text=True)
    assert assignee_of(app, task_id) == "reviewer"


def test_unclaim_page_action_is_for_the_holder_or_an_admin(people, client, login, api_as, app):
    _, _, task_id = submitted_plan(api_as)
    api_as("reviewer").post(f"/tasks/{task_id}/claim")
    assert is_login_redirect(client.post(f"/tasks/{task_id}/unclaim"))
    for other in ("reviewer2", "unit_gat"):
        login(other)
        assert client.post(f"/tasks/{task_id}/unclaim").status_code == 403, other
        assert assignee_of(app, task_id) == "reviewer"
    login("reviewer")
    assert client.post(f"/tasks/{task_id}/unclaim").status_code == 302
    assert assignee_of(app, task_id) is None
    api_as("reviewer").post(f"/tasks/{task_id}/claim")
    login("admin")
    assert client.post(f"/tasks/{task_id}/unclaim").status_code == 302
    assert assignee_of(app, task_id) is None


# ----------------------------------------------------------------------------- plan pages

def test_plan_list_needs_login_and_hides_other_peoples_drafts_from_units(people, client, login, api_as):
    draft_plan(api_as)
    assert is_login_redirect(client.get("/plans/"))
    login("reviewer")
    assert "2027年度运维考核计划" in client.get("/plans/").get_data(as_text=True)
    login("unit_gat")
    page = client.get("/plans/")
    assert page.status_code == 200 and "2027年度运维考核计划" not in page.get_data(as_text=True)


def test_new_plan_editor_opens_for_assessment_managers(people, client, login):
    assert is_login_redirect(client.get("/plans/new"))
    login("manager")
    assert client.get("/plans/new").status_code == 200


def test_new_plan_editor_is_refused_to_other_roles(people, client, login):
    for other in ("reviewer", "unit_gat", "leader"):
        login(other)
        assert client.get("/plans/new").status_code == 403, other


def test_only_assessment_managers_save_a_new_plan_from_the_page(people, client, login, app):
    assert is_login_redirect(client.post("/plans/new", data=plan_form()))
    login("reviewer")
    assert client.post("/plans/new", data=plan_form()).status_code == 403
    login("unit_gat")
    assert client.post("/plans/new", data=plan_form()).status_code == 403
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Plan)) == 0
    login("manager")
    saved = client.post("/plans/new", data=plan_form())
    assert saved.status_code == 302 and saved.headers["Location"].startswith("/plans/")


def test_plan_page_is_refused_to_units_while_draft(people, client, login, api_as):
    plan_id = draft_plan(api_as)
    assert is_login_redirect(client.get(f"/plans/{plan_id}"))
    for allowed in ("manager", "manager2", "reviewer", "admin"):
        login(allowed)
        assert client.get(f"/plans/{plan_id}").status_code == 200, allowed
    login("unit_gat")
    assert client.get(f"/plans/{plan_id}").status_code == 403
    assert client.get("/plans/999999").status_code == 404


def test_published_plan_page_is_open_to_units(people, client, login, api_as):
    plan_id, _, task_id = submitted_plan(api_as)
    api_as("reviewer").post(f"/tasks/{task_id}/complete", {"data": {"decision": "approve"}})
    login("unit_gat")
    assert client.get(f"/plans/{plan_id}").status_code == 200


def test_only_the_author_opens_the_plan_editor(people, client, login, api_as):
    plan_id = draft_plan(api_as)
    assert is_login_redirect(client.get(f"/plans/{plan_id}/edit"))
    login("manager")
    assert client.get(f"/plans/{plan_id}/edit").status_code == 200
    for other in ("manager2", "reviewer", "unit_gat"):
        login(other)
        assert client.get(f"/plans/{plan_id}/edit").status_code == 403, other


def test_only_the_author_saves_plan_edits(people, client, login, api_as):
    plan_id = draft_plan(api_as)
    assert is_login_redirect(client.post(f"/plans/{plan_id}/edit", data=plan_form("改名")))
    login("manager2")
    assert client.post(f"/plans/{plan_id}/edit", data=plan_form("他人改名")).status_code == 403
    assert api_as("manager").get(f"/plans/{plan_id}").json["name"] == "2027年度运维考核计划"
    login("manager")
    assert client.post(f"/plans/{plan_id}/edit", data=plan_form("作者改名")).status_code == 302
    assert api_as("manager").get(f"/plans/{plan_id}").json["name"] == "作者改名"


def test_only_the_author_submits_from_the_page(people, client, login, api_as):
    plan_id = draft_plan(api_as)
    assert is_login_redirect(client.post(f"/plans/{plan_id}/submit"))
    login("manager2")
    assert client.post(f"/plans/{plan_id}/submit").status_code == 403
    login("unit_gat")
    assert client.post(f"/plans/{plan_id}/submit").status_code == 403
    assert api_as("manager").get(f"/plans/{plan_id}").json["status"] == "draft"
    login("manager")
    assert client.post(f"/plans/{plan_id}/submit").status_code == 302
    assert api_as("manager").get(f"/plans/{plan_id}").json["status"] == "in_review"


# ----------------------------------------------------------------------------- instance pages

@pytest.mark.parametrize("suffix", ["", "/diagram.bpmn"])
def test_instance_pages_are_for_involved_users_only(people, client, login, api_as, suffix):
    _, instance_id, _ = submitted_plan(api_as)
    url = f"/instances/{instance_id}{suffix}"
    assert is_login_redirect(client.get(url))
    # the starter, everyone who may work the open review task, and admins
    for allowed in ("manager", "reviewer", "reviewer2", "admin"):
        login(allowed)
        assert client.get(url).status_code == 200, allowed
    for other in ("manager2", "leader", "unit_gat"):
        login(other)
        assert client.get(url).status_code == 403, other
    assert client.get(f"/instances/999999{suffix}").status_code == 404


def test_instance_diagram_is_the_bpmn_of_the_instance(people, client, login, api_as):
    _, instance_id, _ = submitted_plan(api_as)
    login("reviewer")
    response = client.get(f"/instances/{instance_id}/diagram.bpmn")
    assert response.mimetype == "application/xml"
    assert b'<bpmn:process id="plan_approval"' in response.data


def test_having_acted_keeps_an_instance_visible_when_the_open_task_moves_on(people, client, login, api_as):
    _, instance_id, task_id = submitted_plan(api_as)
    api_as("reviewer").post(f"/tasks/{task_id}/complete", {"data": {"decision": "return", "comment": "请修改"}})
    login("reviewer")     # acted on it
    assert client.get(f"/instances/{instance_id}").status_code == 200
    login("reviewer2")    # neither acted nor may work the open revise task (the author's)
    assert client.get(f"/instances/{instance_id}").status_code == 403


# ----------------------------------------------------------------------------- admin pages

ADMIN_PAGES = ["/admin/units", "/admin/users"]


@pytest.mark.parametrize("url", ADMIN_PAGES)
def test_admin_pages_are_for_admins_only(people, client, login, url):
    assert is_login_redirect(client.get(url))
    for other in ("manager", "reviewer", "unit_gat"):
        login(other)
        assert client.get(url).status_code == 403, other
    login("admin")
    assert client.get(url).status_code == 200


def _sheet(code: str) -> bytes:
    from openpyxl import Workbook
    book = Workbook()
    book.active.append(["编码", "名称", "类型"])
    book.active.append([code, f"单位{code}", "市州"])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_unit_spreadsheets_are_for_admins_on_the_pages(people, client, login):
    def post(code: str):
        return client.post("/admin/units/import", data={"file": (io.BytesIO(_sheet(code)), "u.xlsx")},
                           content_type="multipart/form-data")
    assert is_login_redirect(client.get("/admin/units/export"))
    assert is_login_redirect(post("P1"))
    for other in ("manager", "reviewer", "unit_gat"):
        login(other)
        assert client.get("/admin/units/export").status_code == 403, other
        assert post("P1").status_code == 403, other
    login("admin")
    assert client.get("/admin/units/export").status_code == 200
    assert post("P1").status_code == 302


def _published_plan(api_as) -> int:
    manager = api_as("manager")
    plan_id = manager.post("/plans", plan_payload()).json["id"]
    manager.post(f"/plans/{plan_id}/submit")
    reviewer = api_as("reviewer")
    [task] = reviewer.get("/tasks?scope=candidate").json["items"]
    reviewer.post(f"/tasks/{task['id']}/complete", {"data": {"decision": "approve"}})
    return int(plan_id)


def test_api_scores_are_for_evaluators_of_the_plan(people, make_user, client, api_as):
    make_user("eva", "evaluator", unit="GAT")
    plan_id = _published_plan(api_as)
    body = {"object": "GAT", "indicator": "A2", "score": 8}
    assert client.post(f"/api/v1/plans/{plan_id}/scores", json=body).status_code == 401
    assert api_as("unit_gat").post(f"/plans/{plan_id}/scores", body).status_code == 403
    assert api_as("eva").post(f"/plans/{plan_id}/scores", body).status_code == 201
    assert api_as("reviewer2").post(f"/plans/{plan_id}/scores", body).status_code == 201   # unit KHB group


def test_api_results_are_for_staff_and_the_object_itself(people, make_user, client, api_as, app):
    make_user("eva", "evaluator", unit="RST")
    make_user("unit_rst", "assessed_unit", unit="RST")
    plan_id = _published_plan(api_as)
    assert client.get(f"/api/v1/plans/{plan_id}/results").status_code == 401
    for allowed in ("manager", "reviewer", "admin"):
        assert api_as(allowed).get(f"/plans/{plan_id}/results").status_code == 200, allowed
    # Leaders and the assessed units wait for the results to be published.
    for refused in ("eva", "unit_rst", "leader", "unit_gat"):
        assert api_as(refused).get(f"/plans/{plan_id}/results").status_code == 403, refused
    set_results_stage(app, plan_id, "preliminary")
    assert api_as("leader").get(f"/plans/{plan_id}/results").status_code == 200
    own = api_as("unit_gat").get(f"/plans/{plan_id}/results")
    assert own.status_code == 200 and [r["object"] for r in own.json["items"]] == ["GAT"]
    for refused in ("eva", "unit_rst"):     # an evaluator; a unit that is not an object of the plan
        assert api_as(refused).get(f"/plans/{plan_id}/results").status_code == 403, refused


def test_score_grid_is_for_evaluators_of_the_plan(people, make_user, client, login, api_as):
    make_user("eva", "evaluator", unit="GAT")
    plan_id = _published_plan(api_as)
    assert is_login_redirect(client.get(f"/plans/{plan_id}/score"))
    assert is_login_redirect(client.post(f"/plans/{plan_id}/score", data={"action": "draft"}))
    login("unit_gat")                 # no evaluator group names the unit GAT's liaison (nor their role)
    assert client.get(f"/plans/{plan_id}/score").status_code == 403
    assert client.post(f"/plans/{plan_id}/score", data={"action": "draft"}).status_code == 403
    for allowed in ("eva", "leader"):  # by the evaluator role; by the unit KHB group
        login(allowed)
        assert client.get(f"/plans/{plan_id}/score").status_code == 200, allowed
    assert client.post(f"/plans/{plan_id}/score", data={"action": "draft"}).status_code == 302
    assert client.get("/plans/999999/score").status_code == 404


def test_scoring_task_page_is_for_whoever_may_see_the_task(people, make_user, client, login, api_as, app):
    make_user("eva", "evaluator", unit="GAT")
    plan_id = _published_plan(api_as)
    [task] = api_as("eva").get("/tasks?scope=mine").json["items"]
    assert is_login_redirect(client.get(f"/plans/tasks/{task['id']}"))
    login("unit_gat")                 # neither its assignee nor holding its role
    assert client.get(f"/plans/tasks/{task['id']}").status_code == 403
    login("eva")
    assert client.get(f"/plans/tasks/{task['id']}").headers["Location"].endswith(f"/plans/{plan_id}/score")
    with app.app_context():
        approval = db.session.scalar(sa.select(HumanTask.id).where(HumanTask.process_id == "plan_approval"))
    login("admin")                    # a task of another process is not a scoring task
    assert client.get(f"/plans/tasks/{approval}").status_code == 404


def test_result_publication_page_is_for_the_office(people, make_user, client, login, api_as):
    plan_id = _published_plan(api_as)
    assert is_login_redirect(client.get(f"/plans/{plan_id}/publish"))
    assert is_login_redirect(client.post(f"/plans/{plan_id}/publish"))
    for refused in ("reviewer", "leader", "unit_gat"):
        login(refused)
        assert client.get(f"/plans/{plan_id}/publish").status_code == 403, refused
        assert client.post(f"/plans/{plan_id}/publish", data={}).status_code == 403, refused
    for allowed in ("manager", "admin"):
        login(allowed)
        assert client.get(f"/plans/{plan_id}/publish").status_code == 200, allowed
    # nothing to publish yet (evaluators are still scoring): refused with a reason, nothing changes
    login("manager")
    page = client.get(f"/plans/{plan_id}/publish").get_data(as_text=True)
    assert "评估人尚未全部提交评分" in page


CHANGE = {"reason": "调整权重", "indicators": [{"code": "A1", "weight": 30}, {"code": "A2", "weight": 70}]}


def test_api_indicator_changes_are_requested_by_managers_and_read_by_plan_viewers(people, client, api_as):
    plan_id = _published_plan(api_as)
    assert client.post(f"/api/v1/plans/{plan_id}/changes", json=CHANGE).status_code == 401
    assert client.get(f"/api/v1/plans/{plan_id}/changes").status_code == 401
    for refused in ("reviewer", "leader", "unit_gat", "admin"):
        assert api_as(refused).post(f"/plans/{plan_id}/changes", CHANGE).status_code == 403, refused
    assert api_as("manager2").post(f"/plans/{plan_id}/changes", CHANGE).status_code == 201
    for allowed in ("manager", "reviewer", "unit_gat"):   # a published plan is readable by everyone signed in
        assert len(api_as(allowed).get(f"/plans/{plan_id}/changes").json["items"]) == 1, allowed
    draft = draft_plan(api_as)
    assert api_as("unit_gat").get(f"/plans/{draft}/changes").status_code == 403


def test_indicator_change_page_is_for_managers(people, client, login, api_as):
    plan_id = _published_plan(api_as)
    assert is_login_redirect(client.get(f"/plans/{plan_id}/changes/new"))
    assert is_login_redirect(client.post(f"/plans/{plan_id}/changes/new", data={}))
    for refused in ("reviewer", "unit_gat", "admin"):
        login(refused)
        assert client.get(f"/plans/{plan_id}/changes/new").status_code == 403, refused
        assert client.post(f"/plans/{plan_id}/changes/new", data={"reason": "x"}).status_code == 403, refused
    login("manager")
    assert client.get(f"/plans/{plan_id}/changes/new").status_code == 200
    saved = client.post(f"/plans/{plan_id}/changes/new", data={"reason": "调整权重", "A1:weight": "30",
                                                                "A2:weight": "70"})
    assert saved.status_code == 302 and saved.headers["Location"].startswith("/instances/")


def test_plan_versions_are_readable_by_plan_viewers(people, client, login, api_as):
    plan_id = _published_plan(api_as)
    assert is_login_redirect(client.get(f"/plans/{plan_id}/versions/1"))
    login("unit_gat")
    assert client.get(f"/plans/{plan_id}/versions/1").status_code == 200
    assert client.get(f"/plans/{plan_id}/versions/2").status_code == 404
    draft = draft_plan(api_as)
    assert client.get(f"/plans/{draft}/versions/1").status_code == 403


def test_results_page_is_for_staff_then_leaders_and_the_object_once_published(people, make_user, client, login,
                                                                              api_as, app):
    make_user("eva", "evaluator", unit="RST")
    plan_id = _published_plan(api_as)
    url = f"/plans/{plan_id}/results"
    assert is_login_redirect(client.get(url))
    for allowed in ("manager", "reviewer", "admin"):
        login(allowed)
        assert client.get(url).status_code == 200, allowed
    for refused in ("leader", "unit_gat", "eva"):
        login(refused)
        assert client.get(url).status_code == 403, refused
    set_results_stage(app, plan_id, "final")
    for allowed in ("leader", "unit_gat"):
        login(allowed)
        assert client.get(url).status_code == 200, allowed
    login("eva")
    assert client.get(url).status_code == 403
    assert client.get("/plans/999999/results").status_code == 404


def test_drill_down_is_refused_to_other_objects_and_unpublished_readers(people, client, login, api_as, app):
    plan_id = _published_plan(api_as)
    assert is_login_redirect(client.get(f"/plans/{plan_id}/results/GAT"))
    login("unit_gat")
    assert client.get(f"/plans/{plan_id}/results/GAT").status_code == 403
    set_results_stage(app, plan_id, "preliminary")
    assert client.get(f"/plans/{plan_id}/results/GAT").status_code == 200
    assert client.get(f"/plans/{plan_id}/results/CS").status_code == 403
    login("reviewer")
    assert client.get(f"/plans/{plan_id}/results/CS").status_code == 200


def test_unit_history_page_is_for_staff_and_the_unit_itself(people, make_user, client, login):
    make_user("eva", "evaluator", unit="RST")
    assert is_login_redirect(client.get("/objects/GAT/results"))
    for allowed in ("manager", "reviewer", "leader", "admin", "unit_gat"):
        login(allowed)
        assert client.get("/objects/GAT/results").status_code == 200, allowed
    login("unit_gat")
    assert client.get("/objects/CS/results").status_code == 403
    login("eva")
    assert client.get("/objects/GAT/results").status_code == 403


def test_api_unit_results_are_for_staff_and_the_unit_itself(people, make_user, client, api_as):
    make_user("eva", "evaluator", unit="RST")
    assert client.get("/api/v1/units/GAT/results").status_code == 401
    for allowed in ("manager", "reviewer", "leader", "admin", "unit_gat"):
        assert api_as(allowed).get("/units/GAT/results").status_code == 200, allowed
    assert api_as("unit_gat").get("/units/CS/results").status_code == 403
    assert api_as("eva").get("/units/GAT/results").status_code == 403


def test_public_results_need_no_login_and_show_only_public_final_plans(people, client, api_as, app):
    plan_id = _published_plan(api_as)
    assert client.get("/public/results").status_code == 200
    for stage, public in ((None, True), ("preliminary", True), ("final", False)):
        set_results_stage(app, plan_id, stage, public=public)
        assert client.get(f"/public/plans/{plan_id}/results").status_code == 404, (stage, public)
    set_results_stage(app, plan_id, "final", public=True)
    assert client.get(f"/public/plans/{plan_id}/results").status_code == 200


def test_indicator_templates_are_for_signed_in_users(people, client, api_as):
    assert client.get("/api/v1/indicator-templates").status_code == 401
    assert client.get("/api/v1/indicator-templates/supply_side").status_code == 401
    for allowed in ("manager", "unit_gat"):
        keys = {t["key"] for t in api_as(allowed).get("/indicator-templates").json["items"]}
        assert keys == {"supply_side", "demand_side"}, allowed
        assert api_as(allowed).get("/indicator-templates/demand_side").status_code == 200
    assert api_as("manager").get("/indicator-templates/nope").status_code == 404


def test_chasing_a_task_is_for_managers_and_admins_involved(people, client, login, api_as):
    plan_id, instance_id, task_id = submitted_plan(api_as)
    assert is_login_redirect(client.post(f"/tasks/{task_id}/chase", data={}))
    assert client.post(f"/api/v1/tasks/{task_id}/chase", json={}).status_code == 401
    for refused in ("reviewer", "leader", "unit_gat"):
        login(refused)
        assert client.post(f"/tasks/{task_id}/chase", data={}).status_code == 403, refused
        assert api_as(refused).post(f"/tasks/{task_id}/chase", {}).status_code == 403, refused
    assert api_as("manager2").post(f"/tasks/{task_id}/chase", {}).status_code == 403   # not involved in this case
    login("manager")
    chased = client.post(f"/tasks/{task_id}/chase", data={"comment": "请尽快审核"})
    assert chased.status_code == 302 and chased.headers["Location"] == f"/instances/{instance_id}"
    assert api_as("admin").post(f"/tasks/{task_id}/chase", {}).status_code == 200


def _scored_and_preliminary(make_user, api_as, app) -> int:
    """A published plan scored by one evaluator, its preliminary results out (appeal window open)."""
    make_user("eva", "evaluator", unit="RST")
    manager = api_as("manager")
    plan_id = manager.post("/plans", plan_payload(
        indicators=[{"code": "A", "name": "服务质量", "weight": 100, "max_score": 10}],
        evaluators=[{"role": "evaluator", "weight": 100}])).json["id"]
    manager.post(f"/plans/{plan_id}/submit")
    [task] = api_as("reviewer").get("/tasks?scope=candidate&process=plan_approval").json["items"]
    api_as("reviewer").post(f"/tasks/{task['id']}/complete", {"data": {"decision": "approve"}})
    for obj in ("GAT", "CS"):
        api_as("eva").post(f"/plans/{plan_id}/scores", {"object": obj, "indicator": "A", "score": 8})
    return int(plan_id)


def test_results_publication_api_is_for_the_office(people, make_user, client, api_as, app):
    plan_id = _scored_and_preliminary(make_user, api_as, app)
    body = {"stage": "preliminary", "appeal_days": 5}
    assert client.post(f"/api/v1/plans/{plan_id}/results/publish", json=body).status_code == 401
    for refused in ("reviewer", "leader", "unit_gat", "eva"):
        assert api_as(refused).post(f"/plans/{plan_id}/results/publish", body).status_code == 403, refused
    assert api_as("manager").post(f"/plans/{plan_id}/results/publish", body).status_code == 200
    assert api_as("manager").post("/plans/999999/results/publish", body).status_code == 404


def test_appeals_are_filed_by_the_unit_and_seen_by_those_involved(people, make_user, client, login, api_as, app):
    plan_id = _scored_and_preliminary(make_user, api_as, app)
    make_user("unit_cs", "assessed_unit", unit="CS")
    api_as("manager").post(f"/plans/{plan_id}/results/publish", {"stage": "preliminary", "appeal_days": 5})
    body = {"plan": plan_id, "object": "GAT", "indicator": "A", "reason": "理由"}
    assert client.post("/api/v1/appeals", json=body).status_code == 401
    assert client.get("/api/v1/appeals").status_code == 401
    assert api_as("unit_cs").post("/appeals", body).status_code == 403
    filed = api_as("unit_gat").post("/appeals", body)
    assert filed.status_code == 201
    appeal_id = filed.json["id"]
    assert client.get(f"/api/v1/appeals/{appeal_id}").status_code == 401
    for allowed in ("unit_gat", "manager", "reviewer", "admin"):
        assert api_as(allowed).get(f"/appeals/{appeal_id}").status_code == 200, allowed
        assert [a["id"] for a in api_as(allowed).get("/appeals").json["items"]] == [appeal_id], allowed
    for refused in ("unit_cs", "leader"):
        assert api_as(refused).get(f"/appeals/{appeal_id}").status_code == 403, refused
    assert api_as("unit_cs").get("/appeals").json["items"] == []
    assert api_as("leader").get("/appeals").status_code == 403


def test_appeal_pages_follow_the_same_rules(people, make_user, client, login, api_as, app):
    plan_id = _scored_and_preliminary(make_user, api_as, app)
    make_user("unit_cs", "assessed_unit", unit="CS")
    api_as("manager").post(f"/plans/{plan_id}/results/publish", {"stage": "preliminary", "appeal_days": 5})
    unit = api_as("unit_gat")
    upload = unit.client.post("/api/v1/appeals", headers=unit.headers, content_type="multipart/form-data", data={
        "plan": str(plan_id), "object": "GAT", "indicator": "A", "reason": "理由",
        "files": (io.BytesIO(b"%PDF-1.4 x"), "a.pdf")})
    appeal_id = upload.json["id"]
    file_id = unit.get(f"/appeals/{appeal_id}").json["files"][0]["id"]
    urls = ["/appeals/", f"/appeals/{appeal_id}", f"/appeals/{appeal_id}/files/{file_id}",
            f"/appeals/new?plan={plan_id}&object=GAT&indicator=A"]
    for url in urls:
        assert is_login_redirect(client.get(url)), url
    assert is_login_redirect(client.post("/appeals/new", data={"plan": plan_id}))
    login("unit_gat")
    for url in urls:
        assert client.get(url).status_code == 200, url
    login("unit_cs")
    for url in urls[1:]:
        assert client.get(url).status_code == 403, url
    assert client.post("/appeals/new", data={"plan": plan_id, "object": "GAT", "indicator": "A",
                                             "reason": "x"}).status_code == 403
    login("manager")
    assert client.get(f"/appeals/{appeal_id}/files/{file_id}").data == b"%PDF-1.4 x"
    assert client.get(f"/appeals/{appeal_id}/files/999").status_code == 404


def test_api_units_need_a_token(people, client, api_as):
    assert client.get("/api/v1/units").status_code == 401
    assert "GAT" in {u["code"] for u in api_as("unit_gat").get("/units").json["items"]}


def test_api_unit_spreadsheets_are_for_admins_and_managers(people, client, api_as):
    def post(api, code: str):
        return api.client.post("/api/v1/units/import", headers=api.headers,
                               data={"file": (io.BytesIO(_sheet(code)), "u.xlsx")}, content_type="multipart/form-data")
    assert client.get("/api/v1/units/export").status_code == 401
    assert client.post("/api/v1/units/import").status_code == 401
    for other in ("reviewer", "unit_gat", "leader"):
        assert api_as(other).get("/units/export").status_code == 403, other
        assert post(api_as(other), "P2").status_code == 403, other
    assert api_as("manager").get("/units/export").status_code == 200
    assert post(api_as("manager"), "P2").status_code == 201
    assert post(api_as("admin"), "P3").status_code == 201


def test_only_admins_add_units(people, client, login, app):
    form = {"code": "ZZ", "name": "株洲市", "kind": "city"}
    assert is_login_redirect(client.post("/admin/units", data=form))
    login("manager")
    assert client.post("/admin/units", data=form).status_code == 403
    with app.app_context():
        assert db.session.scalar(sa.select(Unit).where(Unit.code == "ZZ")) is None
    login("admin")
    assert client.post("/admin/units", data=form).status_code == 302
    with app.app_context():
        assert db.session.scalar(sa.select(Unit.name).where(Unit.code == "ZZ")) == "株洲市"


def test_only_admins_update_units(people, client, login, app):
    gat = unit_id(app, "GAT")
    form = {"name": "省公安厅（新）", "kind": "department", "active": "1"}
    assert is_login_redirect(client.post(f"/admin/units/{gat}", data=form))
    login("unit_gat")
    assert client.post(f"/admin/units/{gat}", data=form).status_code == 403
    with app.app_context():
        assert db.session.get(Unit, gat).name == "单位GAT"
    login("admin")
    assert client.post(f"/admin/units/{gat}", data=form).status_code == 302
    with app.app_context():
        assert db.session.get(Unit, gat).name == "省公安厅（新）"
    assert client.post("/admin/units/999999", data=form).status_code == 404


def test_only_admins_add_users(people, client, login, app):
    form = {"username": "newbie", "name": "新人", "password": "long-enough-1", "roles": ["reviewer"], "unit": "KHB"}
    assert is_login_redirect(client.post("/admin/users", data=form))
    login("reviewer")
    assert client.post("/admin/users", data=form).status_code == 403
    with app.app_context():
        assert db.session.scalar(sa.select(User).where(User.username == "newbie")) is None
    login("admin")
    assert client.post("/admin/users", data=form).status_code == 302
    with app.app_context():
        assert db.session.scalar(sa.select(User).where(User.username == "newbie")).roles == {"reviewer"}


def test_only_admins_open_a_users_edit_page(people, client, login, app):
    reviewer = user_id(app, "reviewer")
    assert is_login_redirect(client.get(f"/admin/users/{reviewer}"))
    login("reviewer")    # not even one's own account
    assert client.get(f"/admin/users/{reviewer}").status_code == 403
    login("admin")
    assert client.get(f"/admin/users/{reviewer}").status_code == 200
    assert client.get("/admin/users/999999").status_code == 404


def test_only_admins_change_users(people, client, login, app):
    reviewer = user_id(app, "reviewer")
    promote = {"name": "李审核", "roles": ["reviewer", "admin"], "unit": "KHB", "active": "1"}
    assert is_login_redirect(client.post(f"/admin/users/{reviewer}", data=promote))
    login("reviewer")    # no self-promotion
    assert client.post(f"/admin/users/{reviewer}", data=promote).status_code == 403
    with app.app_context():
        assert db.session.get(User, reviewer).roles == {"reviewer"}
    login("admin")
    assert client.post(f"/admin/users/{reviewer}", data=promote).status_code == 302
    with app.app_context():
        assert db.session.get(User, reviewer).roles == {"reviewer", "admin"}


# ----------------------------------------------------------------------------- notifications and the calendar

def _notify(app: Flask, username: str, title: str) -> int:
    from app.services.notifications import notify
    with app.app_context(), write_transaction():
        [row] = notify([db.session.scalar(sa.select(User).where(User.username == username))], title, link="/plans/")
        db.session.flush()
        return row.id


def _is_read(app: Flask, notification_id: int) -> bool:
    from app.models import Notification
    with app.app_context():
        row = db.session.get(Notification, notification_id)
        assert row is not None
        return row.read_at is not None


def test_notifications_page_needs_login_and_shows_only_ones_own(people, client, login, app):
    _notify(app, "reviewer", "给审核人的通知")
    assert is_login_redirect(client.get("/notifications"))
    login("reviewer")
    assert "给审核人的通知" in client.get("/notifications").get_data(as_text=True)
    login("manager")
    page = client.get("/notifications")
    assert page.status_code == 200 and "给审核人的通知" not in page.get_data(as_text=True)


def test_only_the_recipient_opens_a_notification(people, client, login, app):
    nid = _notify(app, "reviewer", "给审核人的通知")
    assert is_login_redirect(client.post(f"/notifications/{nid}/open"))
    login("manager")
    assert client.post(f"/notifications/{nid}/open").status_code == 404     # not even its existence
    assert client.post("/notifications/999999/open").status_code == 404
    assert not _is_read(app, nid)
    login("reviewer")
    assert client.get(f"/notifications/{nid}/open").status_code == 405      # no GET side effects
    assert client.post(f"/notifications/{nid}/open").status_code == 302
    assert _is_read(app, nid)


def test_mark_all_read_needs_login_and_touches_only_ones_own(people, client, login, app):
    mine, theirs = _notify(app, "reviewer", "甲"), _notify(app, "manager", "乙")
    assert is_login_redirect(client.post("/notifications/read"))
    assert not _is_read(app, mine)
    login("reviewer")
    assert client.post("/notifications/read").status_code == 302
    assert _is_read(app, mine) and not _is_read(app, theirs)


def test_api_notifications_need_a_token_and_show_only_ones_own(people, client, api_as, app):
    mine, theirs = _notify(app, "reviewer", "甲"), _notify(app, "manager", "乙")
    assert client.get("/api/v1/notifications").status_code == 401
    assert client.post("/api/v1/notifications/read", json={}).status_code == 401
    reviewer = api_as("reviewer")
    assert [i["id"] for i in reviewer.get("/notifications").json["items"]] == [mine]
    assert reviewer.post("/notifications/read", {"ids": [theirs]}).json["marked"] == 0
    assert not _is_read(app, theirs)
    assert reviewer.post("/notifications/read", {"ids": [mine, theirs]}).json["marked"] == 1
    assert _is_read(app, mine) and not _is_read(app, theirs)


def test_calendar_page_is_for_admins_only(people, client, login, app):
    from app.models import CalendarDay
    schedule = {"year": "2027", "schedule": "2027-01-01 至 2027-01-03 元旦"}
    assert is_login_redirect(client.get("/admin/calendar"))
    assert is_login_redirect(client.post("/admin/calendar", data=schedule))
    for other in ("manager", "reviewer", "leader", "unit_gat"):
        login(other)
        assert client.get("/admin/calendar").status_code == 403, other
        assert client.post("/admin/calendar", data=schedule).status_code == 403, other
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(CalendarDay)) == 0
    login("admin")
    assert client.get("/admin/calendar").status_code == 200
    assert client.post("/admin/calendar", data=schedule).status_code == 302
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(CalendarDay)) == 3


# ----------------------------------------------------------------------------- API: tokens and the description

def test_api_token_needs_the_right_password(people, client):
    refused = client.post("/api/v1/auth/token", json={"username": "reviewer", "password": "nope-nope"})
    assert refused.status_code == 401 and refused.json["error"] == "用户名或密码错误"
    assert client.post("/api/v1/auth/token", json={"username": "ghost", "password": PASSWORD}).status_code == 401
    issued = client.post("/api/v1/auth/token", json={"username": "reviewer", "password": PASSWORD})
    assert issued.status_code == 200 and issued.json["token"]


def test_openapi_description_is_public(client):
    """Deliberately public: a client reads it before it has a token."""
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200 and response.json["openapi"].startswith("3.")


@pytest.mark.parametrize("header", [None, "Bearer", "Bearer not-a-token", "Basic cmV2aWV3ZXI6eA=="])
def test_api_refuses_requests_without_a_valid_bearer_token(people, client, header):
    headers = {"Authorization": header} if header else {}
    response = client.get("/api/v1/tasks", headers=headers)
    assert response.status_code == 401 and "令牌" in response.json["error"]


def test_api_refuses_the_session_cookie(people, client, login):
    login("reviewer")
    assert client.get("/api/v1/tasks").status_code == 401


def test_api_refuses_an_expired_token(people, api_as):
    reviewer = api_as("reviewer")
    assert reviewer.get("/tasks").status_code == 200
    with time_machine.travel(datetime.now(UTC) + timedelta(hours=13)):
        assert reviewer.get("/tasks").status_code == 401


def test_api_refuses_a_deactivated_users_token(people, api_as, app):
    reviewer = api_as("reviewer")
    with app.app_context(), write_transaction():
        db.session.scalar(sa.select(User).where(User.username == "reviewer")).active = False
    assert reviewer.get("/tasks").status_code == 401


# ----------------------------------------------------------------------------- API: tasks

def test_api_task_detail_is_for_users_of_the_tasks_role(people, client, api_as):
    _, _, task_id = submitted_plan(api_as)
    assert client.get(f"/api/v1/tasks/{task_id}").status_code == 401
    assert api_as("reviewer").get(f"/tasks/{task_id}").status_code == 200
    for other in ("unit_gat", "leader", "manager2"):
        assert api_as(other).get(f"/tasks/{task_id}").status_code == 403, other
    assert api_as("reviewer").get("/tasks/999999").status_code == 404


def test_api_claim_is_for_qualified_users_and_a_taken_task_conflicts(people, client, api_as, app):
    _, _, task_id = submitted_plan(api_as)
    assert client.post(f"/api/v1/tasks/{task_id}/claim").status_code == 401
    assert api_as("unit_gat").post(f"/tasks/{task_id}/claim").status_code == 403
    claimed = api_as("reviewer").post(f"/tasks/{task_id}/claim")
    assert claimed.status_code == 200 and claimed.json["assignee"] == "reviewer"
    taken = api_as("reviewer2").post(f"/tasks/{task_id}/claim")
    assert taken.status_code == 409 and "李审核" in taken.json["error"]
    assert assignee_of(app, task_id) == "reviewer"


def test_api_unclaim_is_for_the_holder_or_an_admin(people, client, api_as, app):
    _, _, task_id = submitted_plan(api_as)
    api_as("reviewer").post(f"/tasks/{task_id}/claim")
    assert client.post(f"/api/v1/tasks/{task_id}/unclaim").status_code == 401
    for other in ("reviewer2", "unit_gat", "manager"):
        assert api_as(other).post(f"/tasks/{task_id}/unclaim").status_code == 403, other
    assert assignee_of(app, task_id) == "reviewer"
    released = api_as("reviewer").post(f"/tasks/{task_id}/unclaim")
    assert released.status_code == 200 and released.json["assignee"] is None
    api_as("reviewer").post(f"/tasks/{task_id}/claim")
    assert api_as("admin").post(f"/tasks/{task_id}/unclaim").status_code == 200
    assert assignee_of(app, task_id) is None


def test_api_complete_is_for_qualified_users_and_a_taken_task_conflicts(people, client, api_as, app):
    _, _, task_id = submitted_plan(api_as)
    approve = {"data": {"decision": "approve"}}
    assert client.post(f"/api/v1/tasks/{task_id}/complete", json=approve).status_code == 401
    assert api_as("unit_gat").post(f"/tasks/{task_id}/complete", approve).status_code == 403
    assert api_as("manager").post(f"/tasks/{task_id}/complete", approve).status_code == 403
    api_as("reviewer").post(f"/tasks/{task_id}/claim")
    taken = api_as("reviewer2").post(f"/tasks/{task_id}/complete", approve)
    assert taken.status_code == 409 and "李审核" in taken.json["error"]
    assert task_row(app, task_id).status == "open"
    assert api_as("reviewer").post(f"/tasks/{task_id}/complete", approve).status_code == 200


def test_a_returned_plan_is_resubmitted_only_by_its_author(people, api_as):
    plan_id, _, task_id = submitted_plan(api_as)
    api_as("reviewer").post(f"/tasks/{task_id}/complete", {"data": {"decision": "return", "comment": "请修改"}})
    revise = api_as("manager").get("/tasks?scope=mine").json["items"][0]
    assert revise["name"] == "修改考核计划" and revise["assignee"] == "manager"
    api_as("manager").post(f"/tasks/{revise['id']}/unclaim")
    other = api_as("manager2")
    claimed = other.post(f"/tasks/{revise['id']}/claim")
    completed = other.post(f"/tasks/{revise['id']}/complete", {"data": {"comment": "他人代为提交"}})
    assert claimed.status_code in (403, 409) and completed.status_code in (403, 409)
    assert api_as("manager").get(f"/plans/{plan_id}").json["status"] == "returned"


def test_api_task_list_needs_a_token_and_shows_only_the_users_tasks(people, client, api_as):
    _, _, task_id = submitted_plan(api_as)
    assert client.get("/api/v1/tasks?scope=candidate").status_code == 401
    assert [t["id"] for t in api_as("reviewer").get("/tasks?scope=candidate").json["items"]] == [task_id]
    for other in ("unit_gat", "leader", "manager"):
        assert api_as(other).get("/tasks?scope=candidate").json["items"] == [], other


# ----------------------------------------------------------------------------- API: instances and plans

def test_api_instance_is_for_involved_users_only(people, client, api_as):
    _, instance_id, _ = submitted_plan(api_as)
    assert client.get(f"/api/v1/instances/{instance_id}").status_code == 401
    for allowed in ("manager", "reviewer", "reviewer2", "admin"):
        assert api_as(allowed).get(f"/instances/{instance_id}").status_code == 200, allowed
    for other in ("manager2", "leader", "unit_gat"):
        assert api_as(other).get(f"/instances/{instance_id}").status_code == 403, other
    assert api_as("admin").get("/instances/999999").status_code == 404


def test_api_plan_list_needs_a_token_and_hides_drafts_from_units(people, client, api_as):
    plan_id = draft_plan(api_as)
    assert client.get("/api/v1/plans").status_code == 401
    assert [p["id"] for p in api_as("reviewer").get("/plans").json["items"]] == [plan_id]
    assert api_as("unit_gat").get("/plans").json["items"] == []


def test_api_plan_creation_is_for_assessment_managers_only(people, client, api_as):
    assert client.post("/api/v1/plans", json=plan_payload()).status_code == 401
    for other in ("reviewer", "leader", "admin", "unit_gat"):
        assert api_as(other).post("/plans", plan_payload()).status_code == 403, other
    assert api_as("manager").post("/plans", plan_payload()).status_code == 201


def test_api_plan_detail_is_refused_to_units_while_draft(people, client, api_as):
    plan_id = draft_plan(api_as)
    assert client.get(f"/api/v1/plans/{plan_id}").status_code == 401
    assert api_as("reviewer").get(f"/plans/{plan_id}").status_code == 200
    assert api_as("unit_gat").get(f"/plans/{plan_id}").status_code == 403
    assert api_as("reviewer").get("/plans/999999").status_code == 404


def test_api_plan_update_is_for_the_author_only(people, client, api_as):
    plan_id = draft_plan(api_as)
    assert client.put(f"/api/v1/plans/{plan_id}", json=plan_payload(name="x")).status_code == 401
    for other in ("manager2", "reviewer", "unit_gat"):
        assert api_as(other).put(f"/plans/{plan_id}", plan_payload(name="他人改名")).status_code == 403, other
    updated = api_as("manager").put(f"/plans/{plan_id}", plan_payload(name="作者改名"))
    assert updated.status_code == 200 and updated.json["name"] == "作者改名"


def test_api_plan_submit_is_for_the_author_only(people, client, api_as):
    plan_id = draft_plan(api_as)
    assert client.post(f"/api/v1/plans/{plan_id}/submit").status_code == 401
    for other in ("manager2", "reviewer", "unit_gat"):
        assert api_as(other).post(f"/plans/{plan_id}/submit").status_code == 403, other
    assert api_as("manager").get(f"/plans/{plan_id}").json["status"] == "draft"
    assert api_as("manager").post(f"/plans/{plan_id}/submit").status_code == 201


# ----------------------------------------------------------------------------- data sources

DATASOURCE = {"name": "好差评", "kind": "http_json", "url": "http://127.0.0.1:9/rates",   # nothing listens on 9
              "object_field": "unit", "value_field": "rate"}
NOT_SOURCE_MANAGERS = ("reviewer", "leader", "unit_gat")


def _datasource(api_as: Callable[[str], Api], **fields: Any) -> int:
    created = api_as("manager").post("/datasources", {**DATASOURCE, **fields})
    assert created.status_code == 201, created.json
    return int(created.json["id"])


def _run_count(app: Flask) -> int:
    from app.models import CollectionRun
    with app.app_context():
        return int(db.session.scalar(sa.select(sa.func.count(CollectionRun.id))))


def test_api_datasources_are_for_admins_and_managers(people, client, api_as):
    assert client.get("/api/v1/datasources").status_code == 401
    assert client.post("/api/v1/datasources", json=DATASOURCE).status_code == 401
    for other in NOT_SOURCE_MANAGERS:
        assert api_as(other).get("/datasources").status_code == 403, other
        assert api_as(other).post("/datasources", DATASOURCE).status_code == 403, other
    assert api_as("manager").post("/datasources", DATASOURCE).status_code == 201
    assert api_as("admin").post("/datasources", {**DATASOURCE, "name": "另一个"}).status_code == 201
    for allowed in ("manager", "admin"):
        assert len(api_as(allowed).get("/datasources").json["items"]) == 2, allowed


def test_api_datasource_detail_runs_and_run_now_are_for_admins_and_managers(people, client, api_as, app):
    source_id = _datasource(api_as)
    reads = [f"/datasources/{source_id}", f"/datasources/{source_id}/runs"]
    for url in reads:
        assert client.get("/api/v1" + url).status_code == 401
    assert client.post(f"/api/v1/datasources/{source_id}/run").status_code == 401
    for other in NOT_SOURCE_MANAGERS:
        for url in reads:
            assert api_as(other).get(url).status_code == 403, (other, url)
        assert api_as(other).post(f"/datasources/{source_id}/run").status_code == 403, other
    assert _run_count(app) == 0
    for allowed in ("manager", "admin"):
        for url in reads:
            assert api_as(allowed).get(url).status_code == 200, (allowed, url)
        ran = api_as(allowed).post(f"/datasources/{source_id}/run")
        assert ran.status_code == 200 and ran.json["status"] == "failed", allowed   # nothing listens there
        assert api_as(allowed).get("/datasources/999999/runs").status_code == 404
        assert api_as(allowed).post("/datasources/999999/run").status_code == 404
    assert _run_count(app) == 2


def test_api_csv_upload_is_for_admins_and_managers(people, client, api_as):
    source_id = _datasource(api_as, kind="csv", url="", records_path="")

    def post(api: Api | None) -> Any:
        files = {"file": (io.BytesIO(b"unit,rate\nGAT,1\n"), "r.csv")}
        if api is None:
            return client.post(f"/api/v1/datasources/{source_id}/file", data=files, content_type="multipart/form-data")
        return api.client.post(f"/api/v1/datasources/{source_id}/file", headers=api.headers, data=files,
                               content_type="multipart/form-data")
    assert post(None).status_code == 401
    for other in NOT_SOURCE_MANAGERS:
        assert post(api_as(other)).status_code == 403, other
    assert api_as("manager").get(f"/datasources/{source_id}").json["file_sha256"] is None
    for allowed in ("manager", "admin"):
        assert post(api_as(allowed)).status_code == 200, allowed
    assert api_as("manager").get(f"/datasources/{source_id}").json["file_sha256"] is not None


def test_api_plan_collect_is_for_admins_and_managers(people, client, api_as):
    plan_id = _published_plan(api_as)
    assert client.post(f"/api/v1/plans/{plan_id}/collect").status_code == 401
    for other in (*NOT_SOURCE_MANAGERS, "manager2"):
        expected = 200 if other == "manager2" else 403    # any assessment manager, not only the author
        assert api_as(other).post(f"/plans/{plan_id}/collect").status_code == expected, other
    for allowed in ("manager", "admin"):
        assert api_as(allowed).post(f"/plans/{plan_id}/collect").status_code == 200, allowed
    assert api_as("admin").post("/plans/999999/collect").status_code == 404


def test_datasource_pages_are_for_admins_and_managers(people, client, login, api_as):
    source_id = _datasource(api_as)
    pages = ["/datasources", f"/datasources/{source_id}"]
    for url in pages:
        assert is_login_redirect(client.get(url))
    for other in NOT_SOURCE_MANAGERS:
        login(other)
        assert "数据源" not in client.get("/inbox").get_data(as_text=True)   # no nav link either
        for url in pages:
            assert client.get(url).status_code == 403, (other, url)
    for allowed in ("manager", "admin"):
        login(allowed)
        assert 'href="/datasources"' in client.get("/inbox").get_data(as_text=True)
        for url in pages:
            page = client.get(url)
            assert page.status_code == 200 and "好差评" in page.get_data(as_text=True), (allowed, url)
        assert client.get("/datasources/999999").status_code == 404


def test_only_admins_and_managers_add_datasources_on_the_page(people, client, login, api_as):
    assert is_login_redirect(client.post("/datasources", data=DATASOURCE))
    for other in NOT_SOURCE_MANAGERS:
        login(other)
        assert client.post("/datasources", data=DATASOURCE).status_code == 403, other
    login("admin")
    assert api_as("admin").get("/datasources").json["items"] == []
    added = client.post("/datasources", data={**DATASOURCE, "auth_header": "X-Api-Key: page-secret"})
    assert added.status_code == 302
    bad = client.post("/datasources", data={**DATASOURCE, "name": "另一个", "url": "file:///etc/passwd",
                                            "auth_header": "X-Api-Key: page-secret"})
    assert bad.status_code == 422
    html = bad.get_data(as_text=True)
    assert "只支持 http:// 或 https:// 地址" in html and "page-secret" not in html   # never echoed back
    assert [s["name"] for s in api_as("admin").get("/datasources").json["items"]] == ["好差评"]


def test_only_admins_and_managers_run_and_upload_on_the_page(people, client, login, api_as, app):
    source_id = _datasource(api_as)
    csv_id = _datasource(api_as, name="表格", kind="csv", url="", records_path="")

    def upload() -> Any:
        return client.post(f"/datasources/{csv_id}/file", content_type="multipart/form-data",
                           data={"file": (io.BytesIO("unit,rate\nGAT,1\n".encode("gb18030")), "r.csv")})
    assert is_login_redirect(client.post(f"/datasources/{source_id}/run"))
    assert is_login_redirect(upload())
    for other in NOT_SOURCE_MANAGERS:
        login(other)
        assert client.post(f"/datasources/{source_id}/run").status_code == 403, other
        assert upload().status_code == 403, other
    assert _run_count(app) == 0
    login("manager")
    ran = client.post(f"/datasources/{source_id}/run", follow_redirects=True)
    assert ran.status_code == 200 and "采集失败" in ran.get_data(as_text=True)
    assert _run_count(app) == 1
    assert upload().status_code == 302
    assert api_as("manager").get(f"/datasources/{csv_id}").json["file_sha256"] is not None


def test_only_admins_and_managers_collect_a_plan_from_its_page(people, client, login, api_as, app):
    _datasource(api_as)
    tree = [{"code": "A", "name": "好评率", "weight": 100, "method": "auto",
             "source": {"datasource": "好差评", "rule": {"kind": "ratio", "target": 100}}}]
    manager = api_as("manager")
    draft = manager.post("/plans", plan_payload(indicators=tree)).json["id"]
    manager.post(f"/plans/{draft}/submit")
    reviewer = api_as("reviewer")
    [task] = reviewer.get("/tasks?scope=candidate").json["items"]
    reviewer.post(f"/tasks/{task['id']}/complete", {"data": {"decision": "approve"}})
    plan_id = draft
    assert is_login_redirect(client.post(f"/plans/{plan_id}/collect"))
    for other in NOT_SOURCE_MANAGERS:
        login(other)
        assert "采集数据" not in client.get(f"/plans/{plan_id}").get_data(as_text=True), other
        assert client.post(f"/plans/{plan_id}/collect").status_code == 403, other
    assert _run_count(app) == 0
    login("manager")
    assert "采集数据" in client.get(f"/plans/{plan_id}").get_data(as_text=True)
    done = client.post(f"/plans/{plan_id}/collect", follow_redirects=True)
    assert done.status_code == 200 and "好差评：采集失败" in done.get_data(as_text=True)
    assert _run_count(app) == 1
    assert client.post("/plans/999999/collect").status_code == 404
    unpublished = manager.post("/plans", plan_payload(indicators=tree, name="草稿")).json["id"]
    assert "采集数据" not in client.get(f"/plans/{unpublished}").get_data(as_text=True)
    refused = client.post(f"/plans/{unpublished}/collect", follow_redirects=True)
    assert "计划尚未发布，不能采集数据" in refused.get_data(as_text=True)
    assert _run_count(app) == 1


# ----------------------------------------------------------------------------- unit-scoped tasks

@pytest.fixture
def unit_app(app: Flask, instance_dir: Path, tmp_path: Path) -> Iterator[Flask]:
    """A second app whose bpmn/ also holds tests/bpmn/unit_scoped.bpmn (process ``unit_task_demo``)."""
    bpmn_dir = tmp_path / "bpmn"
    bpmn_dir.mkdir()
    for path in (PROJECT / "bpmn").glob("*.bpmn"):
        shutil.copy(path, bpmn_dir)
    shutil.copy(FIXTURES / "unit_scoped.bpmn", bpmn_dir)
    second = make_app(instance_dir, BPMN_DIR=bpmn_dir)
    yield second
    with second.app_context():
        db.engine.dispose()
    # Each app keeps its own registry today (app.extensions["bpmn"]), so this is a no-op; should the
    # registry become a module global cached by directory again, it puts the normal one back.
    runtime.load_registry(Path(app.config["BPMN_DIR"]))
    assert "unit_task_demo" not in app.extensions["bpmn"].current


def start_unit_task(unit_app: Flask, unit_code: str) -> tuple[int, int]:
    """Start ``unit_task_demo`` for a unit; (instance id, id of its open task)."""
    with unit_app.app_context(), write_transaction():
        starter = db.session.scalar(sa.select(User).where(User.username == "manager"))
        instance = runtime.start("unit_task_demo", data={"unit": unit_code}, business_key=None,
                                 title=f"{unit_code} 单位填报", user=starter)
        instance_id = instance.id
    with unit_app.app_context():
        task = db.session.scalar(sa.select(HumanTask).where(HumanTask.instance_id == instance_id))
        assert task is not None and task.role == Role.ASSESSED_UNIT
        assert task.candidate_unit is not None and task.candidate_unit.code == unit_code
        return instance_id, task.id


def api_client(client: FlaskClient, username: str) -> Api:
    response = client.post("/api/v1/auth/token", json={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.json
    return Api(client, response.json["token"])


@pytest.fixture
def unit_cast(people: dict[str, User], make_user: Callable[..., User]) -> dict[str, User]:
    """Beyond ``people`` (unit_gat is the GAT liaison): the CS liaison, a GAT reviewer, a liaison with no unit."""
    return {
        "unit_cs": make_user("unit_cs", Role.ASSESSED_UNIT, unit="CS", name="长沙市联络员"),
        "gat_reviewer": make_user("gat_reviewer", Role.REVIEWER, unit="GAT", name="公安厅审核"),
        "no_unit": make_user("no_unit", Role.ASSESSED_UNIT, unit=None, name="无单位联络员"),
    }


def test_unit_task_is_offered_only_to_its_units_role_holders(unit_app, unit_cast):
    _, task_id = start_unit_task(unit_app, "GAT")
    client = unit_app.test_client()
    assert [t["id"] for t in api_client(client, "unit_gat").get("/tasks?scope=candidate").json["items"]] == [task_id]
    for other in ("unit_cs", "gat_reviewer", "no_unit"):
        api = api_client(client, other)
        assert api.get("/tasks?scope=candidate").json["items"] == [], other
        assert api.get(f"/tasks/{task_id}").status_code == 403, other


def test_unit_task_is_claimed_and_completed_only_within_its_unit(unit_app, unit_cast):
    instance_id, task_id = start_unit_task(unit_app, "GAT")
    client = unit_app.test_client()
    done = {"data": {"comment": "已填报"}}
    for other in ("unit_cs", "gat_reviewer", "no_unit"):
        api = api_client(client, other)
        assert api.post(f"/tasks/{task_id}/claim").status_code == 403, other
        assert api.post(f"/tasks/{task_id}/complete", done).status_code == 403, other
        assert api.get(f"/instances/{instance_id}").status_code == 403, other
    liaison = api_client(client, "unit_gat")
    assert liaison.get(f"/instances/{instance_id}").status_code == 200
    assert liaison.post(f"/tasks/{task_id}/claim").status_code == 200
    completed = liaison.post(f"/tasks/{task_id}/complete", done)
    assert completed.status_code == 200 and completed.json["status"] == "completed"


def test_unit_task_pages_are_refused_to_other_units(unit_app, unit_cast):
    instance_id, task_id = start_unit_task(unit_app, "GAT")
    client = unit_app.test_client()

    def login_as(username: str) -> None:
        client.post("/logout")
        assert client.post("/login", data={"username": username, "password": PASSWORD}).status_code == 302

    login_as("unit_cs")
    assert "单位填报" not in client.get("/inbox?scope=candidate").get_data(as_text=True)
    assert client.get(f"/tasks/{task_id}").status_code == 403
    assert client.post(f"/tasks/{task_id}/claim").status_code == 403
    assert client.get(f"/instances/{instance_id}").status_code == 403
    login_as("unit_gat")
    assert "单位填报" in client.get("/inbox?scope=candidate").get_data(as_text=True)
    assert client.get(f"/tasks/{task_id}").status_code == 200
    assert client.post(f"/tasks/{task_id}/claim").status_code == 302
    assert client.get(f"/instances/{instance_id}").status_code == 200


def test_a_user_moved_to_another_unit_loses_the_units_tasks(unit_app, unit_cast):
    _, task_id = start_unit_task(unit_app, "CS")
    client = unit_app.test_client()
    assert api_client(client, "unit_cs").get(f"/tasks/{task_id}").status_code == 200
    with unit_app.app_context(), write_transaction():
        user = db.session.scalar(sa.select(User).where(User.username == "unit_cs"))
        user.unit = db.session.scalar(sa.select(Unit).where(Unit.code == "GAT"))
    assert api_client(client, "unit_cs").get(f"/tasks/{task_id}").status_code == 403


# ----------------------------------------------------------------------------- rectification notices

RECTIFICATION = {"unit": "GAT", "title": "事项超期整改", "problems": "12件事项超期办结。", "deadline_days": 5}


def _notice(api_as: Callable[[str], Api], unit: str = "GAT") -> int:
    created = api_as("manager").post("/rectifications", {**RECTIFICATION, "unit": unit})
    assert created.status_code == 201, created.json
    return int(created.json["id"])


def _notice_count(app: Flask) -> int:
    with app.app_context():
        return int(db.session.scalar(sa.select(sa.func.count(Rectification.id))))


def test_rectification_list_page_shows_each_user_only_the_notices_they_may_see(people, client, login, api_as,
                                                                               make_user):
    make_user("unit_cs", Role.ASSESSED_UNIT, unit="CS")
    _notice(api_as)
    assert is_login_redirect(client.get("/rectifications/"))
    for allowed in ("manager", "admin", "unit_gat"):
        login(allowed)
        assert "事项超期整改" in client.get("/rectifications/").get_data(as_text=True), allowed
    for other in ("unit_cs", "reviewer", "leader"):
        login(other)
        page = client.get("/rectifications/")
        assert page.status_code == 200 and "事项超期整改" not in page.get_data(as_text=True), other


def test_new_rectification_page_is_for_the_office(people, client, login, app):
    form = {**RECTIFICATION, "deadline_kind": "days"}
    assert is_login_redirect(client.get("/rectifications/new"))
    assert is_login_redirect(client.post("/rectifications/new", data=form))
    for other in ("unit_gat", "reviewer", "leader"):
        login(other)
        assert client.get("/rectifications/new").status_code == 403, other
        assert client.post("/rectifications/new", data=form).status_code == 403, other
    assert _notice_count(app) == 0
    for allowed in ("manager", "admin"):
        login(allowed)
        assert client.get("/rectifications/new").status_code == 200, allowed
        assert client.post("/rectifications/new", data=form).status_code == 302, allowed
    assert _notice_count(app) == 2


def test_rectification_page_is_for_the_office_and_the_notices_unit(people, client, login, api_as, app, make_user):
    make_user("unit_cs", Role.ASSESSED_UNIT, unit="CS")
    rect_id = _notice(api_as)
    assert is_login_redirect(client.get(f"/rectifications/{rect_id}"))
    for allowed in ("manager", "manager2", "admin", "unit_gat"):
        login(allowed)
        assert client.get(f"/rectifications/{rect_id}").status_code == 200, allowed
    for other in ("unit_cs", "reviewer", "leader"):
        login(other)
        assert client.get(f"/rectifications/{rect_id}").status_code == 403, other
    login("manager")
    assert client.get("/rectifications/999999").status_code == 404
    # the unit's task (and its panel showing the notice) stays with that unit
    tasks = api_as("unit_gat").get("/tasks?scope=candidate").json["items"]
    assert len(tasks) == 1
    login("unit_cs")
    assert client.get(f"/tasks/{tasks[0]['id']}").status_code == 403
    login("unit_gat")
    assert "12件事项超期办结。" in client.get(f"/tasks/{tasks[0]['id']}").get_data(as_text=True)


def test_api_rectifications_are_issued_by_the_office_and_read_by_the_notices_unit(people, client, api_as, app,
                                                                                 make_user):
    make_user("unit_cs", Role.ASSESSED_UNIT, unit="CS")
    assert client.get("/api/v1/rectifications").status_code == 401
    assert client.post("/api/v1/rectifications", json=RECTIFICATION).status_code == 401
    for other in ("unit_gat", "reviewer", "leader"):
        assert api_as(other).post("/rectifications", RECTIFICATION).status_code == 403, other
    assert _notice_count(app) == 0
    rect_id = _notice(api_as)
    assert api_as("admin").post("/rectifications", RECTIFICATION).status_code == 201
    assert client.get(f"/api/v1/rectifications/{rect_id}").status_code == 401
    for allowed in ("manager", "admin", "unit_gat"):
        assert api_as(allowed).get(f"/rectifications/{rect_id}").status_code == 200, allowed
        assert rect_id in [r["id"] for r in api_as(allowed).get("/rectifications").json["items"]], allowed
    for other in ("unit_cs", "reviewer", "leader"):
        assert api_as(other).get(f"/rectifications/{rect_id}").status_code == 403, other
        assert api_as(other).get("/rectifications").json["items"] == [], other
# ----------------------------------------------------------------------------- signed documents (API)

def test_api_change_orders_are_filed_by_parties_and_read_by_parties_and_managers(doc_cast, client, api_as):
    from tests.docs_helpers import act, change_payload
    assert client.post("/api/v1/change-orders", json=change_payload()).status_code == 401
    assert api_as("manager").post("/change-orders", change_payload()).status_code == 403
    assert api_as("outsider").post("/change-orders", change_payload()).status_code == 403
    created = api_as("contractor").post("/change-orders", change_payload())
    assert created.status_code == 201
    order_id, instance_id = created.json["id"], created.json["instance_id"]
    url = f"/change-orders/{order_id}"
    assert client.get("/api/v1" + url).status_code == 401
    for allowed in ("contractor", "supervisor", "owner", "owner_clerk", "manager", "leader", "admin"):
        assert api_as(allowed).get(url).status_code == 200, allowed
    assert api_as("outsider").get(url).status_code == 403
    assert api_as("manager").get("/change-orders/999999").status_code == 404
    act(api_as("owner"), instance_id, "survey", {"decision": "disagree", "opinion": "需补充"})
    assert client.post("/api/v1" + url + "/revise", json={"decision": "withdraw"}).status_code == 401
    for other in ("supervisor", "owner", "outsider", "manager"):
        assert api_as(other).post(url + "/revise", {"decision": "withdraw"}).status_code == 403, other
    assert api_as("contractor").post(url + "/revise", {"decision": "withdraw"}).status_code == 200


def test_api_meetings_are_set_up_by_staff_and_read_by_their_people(doc_cast, client, api_as, make_user):
    from tests.test_meetings import MINUTES, meeting_payload
    make_user("liaison", Role.ASSESSED_UNIT, unit="KHB", name="联络员")
    assert client.post("/api/v1/meetings", json=meeting_payload()).status_code == 401
    assert api_as("liaison").post("/meetings", meeting_payload()).status_code == 403
    created = api_as("owner").post("/meetings", meeting_payload())
    assert created.status_code == 201
    url = f"/meetings/{created.json['id']}"
    assert client.get("/api/v1" + url).status_code == 401
    for allowed in ("owner", "supervisor", "contractor", "manager", "admin"):
        assert api_as(allowed).get(url).status_code == 200, allowed
    for other in ("outsider", "liaison"):
        assert api_as(other).get(url).status_code == 403, other
    assert client.post("/api/v1" + url + "/minutes", json=MINUTES).status_code == 401
    for other in ("owner", "contractor", "outsider"):
        assert api_as(other).post(url + "/minutes", MINUTES).status_code == 403, other
    assert api_as("supervisor").post(url + "/minutes", MINUTES).status_code == 200


def test_api_action_items_are_listed_for_their_meetings_and_closed_by_their_owner(doc_cast, client, api_as):
    from tests.docs_helpers import act
    from tests.test_meetings import MINUTES, meeting_payload
    created = api_as("owner").post("/meetings", meeting_payload()).json
    api_as("supervisor").post(f"/meetings/{created['id']}/minutes", MINUTES)
    for who in ("contractor", "supervisor", "owner"):
        act(api_as(who), created["instance_id"], "confirm", {"decision": "agree"})
    act(api_as("owner"), created["instance_id"], "archive", {})
    assert client.get("/api/v1/action-items").status_code == 401
    assert len(api_as("owner").get("/action-items").json["items"]) == 2      # the host sees the meeting's items
    assert api_as("outsider").get("/action-items").json["items"] == []
    item = api_as("contractor").get("/action-items?mine=1").json["items"][0]
    assert client.post(f"/api/v1/action-items/{item['id']}/done", json={}).status_code == 401
    for other in ("owner", "manager", "outsider"):
        assert api_as(other).post(f"/action-items/{item['id']}/done", {}).status_code == 403, other
    assert api_as("contractor").post(f"/action-items/{item['id']}/done", {}).status_code == 200


def test_api_documents_are_for_managers_and_their_parties(doc_cast, client, api_as):
    from tests.docs_helpers import finish_change_order, verify
    document = finish_change_order(api_as)
    assert client.get("/api/v1/documents").status_code == 401
    assert [d["id"] for d in api_as("leader").get("/documents").json["items"]] == [document["id"]]
    assert [d["id"] for d in api_as("owner_clerk").get("/documents").json["items"]] == [document["id"]]
    assert api_as("outsider").get("/documents").json["items"] == []
    assert api_as("manager").get("/documents?kind=nonsense").status_code == 422
    for url in (f"/documents/{document['id']}", f"/documents/{document['id']}/pdf"):
        assert client.get("/api/v1" + url).status_code == 401
        assert api_as("outsider").get(url).status_code == 403
        for allowed in ("manager", "supervisor", "admin"):
            assert api_as(allowed).get(url).status_code == 200, allowed
    assert api_as("manager").get("/documents/999999").status_code == 404
    data = api_as("manager").get(f"/documents/{document['id']}/pdf").data
    assert client.post("/api/v1/documents/verify", data={}).status_code == 401
    # anyone holding a copy may check it (the verdict reveals only the file's own signatures)
    assert verify(api_as("outsider"), data).json["matches_archive"] is True


# ----------------------------------------------------------------------------- signed documents (pages)

def test_change_order_pages_are_for_parties_and_managers(doc_cast, client, login, api_as):
    from tests.docs_helpers import change_payload
    for url in ("/change-orders", "/change-orders/new"):
        assert is_login_redirect(client.get(url))
    login("manager")
    assert client.get("/change-orders").status_code == 200
    assert client.get("/change-orders/new").status_code == 403
    assert client.post("/change-orders/new", data={"title": "x"}).status_code == 403
    login("contractor")
    assert client.get("/change-orders/new").status_code == 200
    form = {"title": "页面提出的变更", "project": "扩容工程", "reason": "原因", "content": "内容",
            "contract": "1000000", "change": "1000", "contractor": "YW", "supervisor": "JL", "owner": "SJ"}
    filed = client.post("/change-orders/new", data=form)
    assert filed.status_code == 302
    url = filed.headers["Location"]
    assert client.get(url).status_code == 200
    login("outsider")
    assert client.get(url).status_code == 403
    assert client.post("/change-orders/new", data=form).status_code == 403   # not a party of these units
    assert client.get("/change-orders/999999").status_code == 404
    login("owner")
    assert client.get(url).status_code == 200
    assert "页面提出的变更" in client.get("/change-orders").get_data(as_text=True)
    del change_payload


def test_change_order_revise_page_is_the_initiators(doc_cast, client, login, api_as):
    from tests.docs_helpers import act, change_payload, open_task
    created = api_as("contractor").post("/change-orders", change_payload()).json
    act(api_as("owner"), created["instance_id"], "survey", {"decision": "disagree", "opinion": "需补充图纸"})
    task = open_task(api_as("contractor"), "revise", created["instance_id"])
    assert task is not None
    url = f"/change-orders/tasks/{task['id']}"
    assert is_login_redirect(client.get(url))
    for other in ("owner", "outsider"):
        login(other)
        assert client.get(url).status_code == 403, other
        assert client.post(url, data={"decision": "withdraw"}).status_code in (302, 403), other
    assert api_as("contractor").get(f"/change-orders/{created['id']}").json["status"] == "returned"
    login("contractor")
    page = client.get(url)
    assert page.status_code == 200 and "需补充图纸" in page.get_data(as_text=True)
    assert client.post(url, data={"decision": "withdraw"}).status_code == 302
    assert api_as("contractor").get(f"/change-orders/{created['id']}").json["status"] == "withdrawn"
    # the inbox sends the initiator to this page
    login("contractor")
    assert client.get(f"/tasks/{task['id']}").headers["Location"] == url


def test_meeting_pages_are_for_their_people_and_managers(doc_cast, client, login, api_as, make_user):
    from tests.test_meetings import meeting_payload
    make_user("liaison", Role.ASSESSED_UNIT, unit="KHB", name="联络员")
    for url in ("/meetings", "/meetings/new"):
        assert is_login_redirect(client.get(url))
    login("liaison")
    assert client.get("/meetings").status_code == 200
    assert client.get("/meetings/new").status_code == 403
    assert client.post("/meetings/new", data={"title": "x"}).status_code == 403
    login("owner")
    assert client.get("/meetings/new").status_code == 200
    form = {**meeting_payload(), "participants": ["contractor", "supervisor"]}
    created = client.post("/meetings/new", data=form)
    assert created.status_code == 302
    url = created.headers["Location"]
    for allowed in ("owner", "supervisor", "contractor", "manager"):
        login(allowed)
        assert client.get(url).status_code == 200, allowed
    for other in ("outsider", "liaison"):
        login(other)
        assert client.get(url).status_code == 403, other
    assert client.get("/meetings/999999").status_code == 404


def test_minutes_draft_page_is_the_recorders(doc_cast, client, login, api_as):
    from tests.docs_helpers import open_task
    from tests.test_meetings import meeting_payload
    created = api_as("owner").post("/meetings", meeting_payload()).json
    task = open_task(api_as("supervisor"), "draft", created["instance_id"])
    assert task is not None
    url = f"/meetings/tasks/{task['id']}"
    assert is_login_redirect(client.get(url))
    form = {"summary": "情况", "decisions": "事项一\n事项二", "item_rows": "1", "item-0-content": "跟进",
            "item-0-owner": "contractor", "item-0-due": "2027-04-01", "action": "submit"}
    for other in ("owner", "outsider"):
        login(other)
        assert client.get(url).status_code == 403, other
        assert client.post(url, data=form).status_code == 403, other
    login("supervisor")
    assert client.get(url).status_code == 200
    assert client.post(url, data=form).status_code == 302
    assert api_as("owner").get(f"/meetings/{created['id']}").json["status"] == "confirming"


def test_action_item_pages_show_own_items_and_only_owners_close_them(doc_cast, client, login, api_as):
    from tests.docs_helpers import act
    from tests.test_meetings import MINUTES, meeting_payload
    created = api_as("owner").post("/meetings", meeting_payload()).json
    api_as("supervisor").post(f"/meetings/{created['id']}/minutes", MINUTES)
    for who in ("contractor", "supervisor", "owner"):
        act(api_as(who), created["instance_id"], "confirm", {"decision": "agree"})
    act(api_as("owner"), created["instance_id"], "archive", {})
    item = api_as("contractor").get("/action-items?mine=1").json["items"][0]
    assert is_login_redirect(client.get("/action-items"))
    assert is_login_redirect(client.post(f"/action-items/{item['id']}/done"))
    login("outsider")
    assert "提交空调改造变更申请" not in client.get("/action-items").get_data(as_text=True)
    assert client.post(f"/action-items/{item['id']}/done").status_code == 403
    login("contractor")
    assert "提交空调改造变更申请" in client.get("/action-items?mine=1").get_data(as_text=True)
    assert client.post(f"/action-items/{item['id']}/done", data={"next": "//evil.example/"}).headers["Location"] \
        == "/action-items?mine=1"
    assert api_as("contractor").get("/action-items?mine=1").json["items"][0]["status"] == "done"


def test_document_pages_are_for_managers_and_their_parties(doc_cast, client, login, api_as):
    from tests.docs_helpers import finish_change_order
    document = finish_change_order(api_as)
    urls = [f"/documents/{document['id']}", f"/documents/{document['id']}/pdf", f"/documents/{document['id']}/status"]
    for url in ["/documents", *urls]:
        assert is_login_redirect(client.get(url)), url
    login("outsider")
    assert document["title"] not in client.get("/documents").get_data(as_text=True)
    for url in urls:
        assert client.get(url).status_code == 403, url
    for allowed in ("manager", "owner", "leader"):
        login(allowed)
        assert document["title"] in client.get("/documents").get_data(as_text=True)
        for url in urls:
            assert client.get(url).status_code == 200, (allowed, url)
    assert client.get("/documents/999999").status_code == 404


def test_only_admins_retry_a_failed_document(doc_cast, client, login, api_as, app):
    from app.models import Document
    from tests.docs_helpers import finish_change_order
    document = finish_change_order(api_as)
    with app.app_context(), write_transaction():
        db.session.get(Document, document["id"]).status = "failed"
    url = f"/documents/{document['id']}/retry"
    assert is_login_redirect(client.post(url))
    for other in ("manager", "owner", "outsider"):
        login(other)
        assert client.post(url).status_code == 403, other
    login("admin")
    assert client.post(url).status_code == 302
    assert api_as("admin").get(f"/documents/{document['id']}").json["status"] == "ready"


def test_the_verify_pages_are_public(doc_cast, client, api_as):
    """Deliberately open: whoever holds a printed copy (its QR code) or the file may check it."""
    from tests.docs_helpers import finish_change_order
    document = finish_change_order(api_as)
    data = api_as("manager").get(f"/documents/{document['id']}/pdf").data
    assert client.get("/verify").status_code == 200
    checked = client.post("/verify", data={"file": (io.BytesIO(data), "x.pdf")}, content_type="multipart/form-data")
    assert checked.status_code == 200 and "与归档文件一致" in checked.get_data(as_text=True)
    refused = client.post("/verify", data={"file": (io.BytesIO(b"not a pdf"), "x.txt")},
                          content_type="multipart/form-data")
    assert refused.status_code == 422 and "只能验证 PDF 文件" in refused.get_data(as_text=True)
    with client.application.app_context():
        from app.models import Document
        code = db.session.get(Document, document["id"]).verification_code
    record = client.get(f"/verify/{code}")
    assert record.status_code == 200 and document["sha256"] in record.get_data(as_text=True)
    assert client.get("/verify/AAAA-BBBB-CCCC-DDDD").status_code == 404


# ----------------------------------------------------------------------------- every route is covered

COVERED: dict[str, tuple[str, ...]] = {
    "GET /login": ("test_login_page_is_public_and_a_wrong_password_is_refused",),
    "POST /login": ("test_login_with_the_right_password_opens_the_inbox", "test_login_never_redirects_off_site",
                    "test_login_page_is_public_and_a_wrong_password_is_refused",
                    "test_deactivated_user_cannot_log_in"),
    "POST /logout": ("test_logout_requires_a_session_and_ends_it",),
    "POST /lang/<code>": ("test_language_switch_is_public_but_only_sets_known_languages",),
    "GET /": ("test_home_redirects_to_the_inbox_only_when_logged_in",),
    "GET /inbox": ("test_inbox_needs_login_and_shows_only_the_users_tasks",
                   "test_unit_task_pages_are_refused_to_other_units"),
    "GET /tasks/<int:task_id>": ("test_task_page_is_for_users_of_the_tasks_role",
                                 "test_task_page_of_a_task_claimed_by_someone_else_shows_no_form",
                                 "test_unit_task_pages_are_refused_to_other_units"),
    "POST /tasks/<int:task_id>": ("test_task_form_post_is_refused_to_other_roles",
                                  "test_task_form_post_on_a_task_claimed_by_someone_else_changes_nothing"),
    "POST /tasks/<int:task_id>/claim": ("test_claim_page_action_is_for_qualified_users_only",
                                        "test_unit_task_pages_are_refused_to_other_units"),
    "POST /tasks/<int:task_id>/unclaim": ("test_unclaim_page_action_is_for_the_holder_or_an_admin",),
    "GET /plans/": ("test_plan_list_needs_login_and_hides_other_peoples_drafts_from_units",),
    "GET /plans/new": ("test_new_plan_editor_opens_for_assessment_managers",
                       "test_new_plan_editor_is_refused_to_other_roles"),
    "POST /plans/new": ("test_only_assessment_managers_save_a_new_plan_from_the_page",),
    "GET /plans/<int:plan_id>": ("test_plan_page_is_refused_to_units_while_draft",
                                 "test_published_plan_page_is_open_to_units"),
    "GET /plans/<int:plan_id>/edit": ("test_only_the_author_opens_the_plan_editor",),
    "POST /plans/<int:plan_id>/edit": ("test_only_the_author_saves_plan_edits",),
    "POST /plans/<int:plan_id>/submit": ("test_only_the_author_submits_from_the_page",),
    "GET /instances/<int:instance_id>": ("test_instance_pages_are_for_involved_users_only",
                                         "test_having_acted_keeps_an_instance_visible_when_the_open_task_moves_on",
                                         "test_unit_task_pages_are_refused_to_other_units"),
    "GET /instances/<int:instance_id>/diagram.bpmn": ("test_instance_pages_are_for_involved_users_only",
                                                      "test_instance_diagram_is_the_bpmn_of_the_instance"),
    "GET /admin/units": ("test_admin_pages_are_for_admins_only",),
    "GET /admin/units/export": ("test_unit_spreadsheets_are_for_admins_on_the_pages",),
    "POST /admin/units/import": ("test_unit_spreadsheets_are_for_admins_on_the_pages",),
    "GET /api/v1/units": ("test_api_units_need_a_token",),
    "POST /api/v1/plans/<int:plan_id>/scores": ("test_api_scores_are_for_evaluators_of_the_plan",),
    "GET /api/v1/plans/<int:plan_id>/results": ("test_api_results_are_for_staff_and_the_object_itself",),
    "GET /plans/<int:plan_id>/score": ("test_score_grid_is_for_evaluators_of_the_plan",),
    "POST /api/v1/plans/<int:plan_id>/results/publish": ("test_results_publication_api_is_for_the_office",),
    "GET /api/v1/appeals": ("test_appeals_are_filed_by_the_unit_and_seen_by_those_involved",),
    "POST /api/v1/appeals": ("test_appeals_are_filed_by_the_unit_and_seen_by_those_involved",),
    "GET /api/v1/appeals/<int:appeal_id>": ("test_appeals_are_filed_by_the_unit_and_seen_by_those_involved",),
    "GET /appeals/": ("test_appeal_pages_follow_the_same_rules",),
    "GET /appeals/new": ("test_appeal_pages_follow_the_same_rules",),
    "POST /appeals/new": ("test_appeal_pages_follow_the_same_rules",),
    "GET /appeals/<int:appeal_id>": ("test_appeal_pages_follow_the_same_rules",),
    "GET /appeals/<int:appeal_id>/files/<int:file_id>": ("test_appeal_pages_follow_the_same_rules",),
    "POST /tasks/<int:task_id>/chase": ("test_chasing_a_task_is_for_managers_and_admins_involved",),
    "POST /api/v1/tasks/<int:task_id>/chase": ("test_chasing_a_task_is_for_managers_and_admins_involved",),
    "GET /api/v1/indicator-templates": ("test_indicator_templates_are_for_signed_in_users",),
    "GET /api/v1/indicator-templates/<key>": ("test_indicator_templates_are_for_signed_in_users",),
    "GET /plans/<int:plan_id>/changes/new": ("test_indicator_change_page_is_for_managers",),
    "POST /plans/<int:plan_id>/changes/new": ("test_indicator_change_page_is_for_managers",),
    "GET /plans/<int:plan_id>/versions/<int:version>": ("test_plan_versions_are_readable_by_plan_viewers",),
    "GET /api/v1/plans/<int:plan_id>/changes": (
        "test_api_indicator_changes_are_requested_by_managers_and_read_by_plan_viewers",),
    "POST /api/v1/plans/<int:plan_id>/changes": (
        "test_api_indicator_changes_are_requested_by_managers_and_read_by_plan_viewers",),
    "POST /plans/<int:plan_id>/score": ("test_score_grid_is_for_evaluators_of_the_plan",),
    "GET /plans/tasks/<int:task_id>": ("test_scoring_task_page_is_for_whoever_may_see_the_task",),
    "GET /plans/<int:plan_id>/publish": ("test_result_publication_page_is_for_the_office",),
    "POST /plans/<int:plan_id>/publish": ("test_result_publication_page_is_for_the_office",),
    "GET /api/v1/units/<code>/results": ("test_api_unit_results_are_for_staff_and_the_unit_itself",),
    "GET /plans/<int:plan_id>/results": ("test_results_page_is_for_staff_then_leaders_and_the_object_once_published",),
    "GET /plans/<int:plan_id>/results/<code>": ("test_drill_down_is_refused_to_other_objects_and_unpublished_readers",),
    "GET /objects/<code>/results": ("test_unit_history_page_is_for_staff_and_the_unit_itself",),
    "GET /public/results": ("test_public_results_need_no_login_and_show_only_public_final_plans",),
    "GET /public/plans/<int:plan_id>/results": ("test_public_results_need_no_login_and_show_only_public_final_plans",),
    "GET /api/v1/units/export": ("test_api_unit_spreadsheets_are_for_admins_and_managers",),
    "POST /api/v1/units/import": ("test_api_unit_spreadsheets_are_for_admins_and_managers",),
    "POST /admin/units": ("test_only_admins_add_units",),
    "POST /admin/units/<int:unit_id>": ("test_only_admins_update_units",),
    "GET /admin/users": ("test_admin_pages_are_for_admins_only",),
    "POST /admin/users": ("test_only_admins_add_users",),
    "GET /admin/users/<int:user_id>": ("test_only_admins_open_a_users_edit_page",),
    "POST /admin/users/<int:user_id>": ("test_only_admins_change_users",),
    "GET /notifications": ("test_notifications_page_needs_login_and_shows_only_ones_own",),
    "POST /notifications/<int:notification_id>/open": ("test_only_the_recipient_opens_a_notification",),
    "POST /notifications/read": ("test_mark_all_read_needs_login_and_touches_only_ones_own",),
    "GET /api/v1/notifications": ("test_api_notifications_need_a_token_and_show_only_ones_own",),
    "POST /api/v1/notifications/read": ("test_api_notifications_need_a_token_and_show_only_ones_own",),
    "GET /admin/calendar": ("test_calendar_page_is_for_admins_only",),
    "POST /admin/calendar": ("test_calendar_page_is_for_admins_only",),
    "GET /api/v1/openapi.json": ("test_openapi_description_is_public",),
    "POST /api/v1/auth/token": ("test_api_token_needs_the_right_password",),
    "GET /api/v1/tasks": ("test_api_task_list_needs_a_token_and_shows_only_the_users_tasks",
                          "test_api_refuses_requests_without_a_valid_bearer_token",
                          "test_api_refuses_the_session_cookie", "test_api_refuses_an_expired_token",
                          "test_api_refuses_a_deactivated_users_token",
                          "test_unit_task_is_offered_only_to_its_units_role_holders"),
    "GET /api/v1/tasks/<int:task_id>": ("test_api_task_detail_is_for_users_of_the_tasks_role",
                                        "test_unit_task_is_offered_only_to_its_units_role_holders",
                                        "test_a_user_moved_to_another_unit_loses_the_units_tasks"),
    "POST /api/v1/tasks/<int:task_id>/claim": ("test_api_claim_is_for_qualified_users_and_a_taken_task_conflicts",
                                               "test_unit_task_is_claimed_and_completed_only_within_its_unit"),
    "POST /api/v1/tasks/<int:task_id>/unclaim": ("test_api_unclaim_is_for_the_holder_or_an_admin",),
    "POST /api/v1/tasks/<int:task_id>/complete": (
        "test_api_complete_is_for_qualified_users_and_a_taken_task_conflicts",
        "test_unit_task_is_claimed_and_completed_only_within_its_unit"),
    "GET /api/v1/instances/<int:instance_id>": ("test_api_instance_is_for_involved_users_only",
                                                "test_unit_task_is_claimed_and_completed_only_within_its_unit"),
    "GET /api/v1/plans": ("test_api_plan_list_needs_a_token_and_hides_drafts_from_units",),
    "POST /api/v1/plans": ("test_api_plan_creation_is_for_assessment_managers_only",),
    "GET /api/v1/plans/<int:plan_id>": ("test_api_plan_detail_is_refused_to_units_while_draft",),
    "PUT /api/v1/plans/<int:plan_id>": ("test_api_plan_update_is_for_the_author_only",),
    "POST /api/v1/plans/<int:plan_id>/submit": ("test_api_plan_submit_is_for_the_author_only",),
    "GET /api/v1/datasources": ("test_api_datasources_are_for_admins_and_managers",),
    "POST /api/v1/datasources": ("test_api_datasources_are_for_admins_and_managers",),
    "GET /api/v1/datasources/<int:source_id>": (
        "test_api_datasource_detail_runs_and_run_now_are_for_admins_and_managers",),
    "GET /api/v1/datasources/<int:source_id>/runs": (
        "test_api_datasource_detail_runs_and_run_now_are_for_admins_and_managers",),
    "POST /api/v1/datasources/<int:source_id>/run": (
        "test_api_datasource_detail_runs_and_run_now_are_for_admins_and_managers",),
    "POST /api/v1/datasources/<int:source_id>/file": ("test_api_csv_upload_is_for_admins_and_managers",),
    "POST /api/v1/plans/<int:plan_id>/collect": ("test_api_plan_collect_is_for_admins_and_managers",),
    "GET /datasources": ("test_datasource_pages_are_for_admins_and_managers",),
    "POST /datasources": ("test_only_admins_and_managers_add_datasources_on_the_page",),
    "GET /datasources/<int:source_id>": ("test_datasource_pages_are_for_admins_and_managers",),
    "POST /datasources/<int:source_id>/run": ("test_only_admins_and_managers_run_and_upload_on_the_page",),
    "POST /datasources/<int:source_id>/file": ("test_only_admins_and_managers_run_and_upload_on_the_page",),
    "POST /plans/<int:plan_id>/collect": ("test_only_admins_and_managers_collect_a_plan_from_its_page",),
    "GET /rectifications/": ("test_rectification_list_page_shows_each_user_only_the_notices_they_may_see",),
    "GET /rectifications/new": ("test_new_rectification_page_is_for_the_office",),
    "POST /rectifications/new": ("test_new_rectification_page_is_for_the_office",),
    "GET /rectifications/<int:rect_id>": ("test_rectification_page_is_for_the_office_and_the_notices_unit",),
    "GET /api/v1/rectifications": ("test_api_rectifications_are_issued_by_the_office_and_read_by_the_notices_unit",),
    "POST /api/v1/rectifications": ("test_api_rectifications_are_issued_by_the_office_and_read_by_the_notices_unit",),
    "GET /api/v1/rectifications/<int:rect_id>": (
        "test_api_rectifications_are_issued_by_the_office_and_read_by_the_notices_unit",),
    "POST /api/v1/change-orders": ("test_api_change_orders_are_filed_by_parties_and_read_by_parties_and_managers",),
    "GET /api/v1/change-orders/<int:order_id>": (
        "test_api_change_orders_are_filed_by_parties_and_read_by_parties_and_managers",),
    "POST /api/v1/change-orders/<int:order_id>/revise": (
        "test_api_change_orders_are_filed_by_parties_and_read_by_parties_and_managers",),
    "POST /api/v1/meetings": ("test_api_meetings_are_set_up_by_staff_and_read_by_their_people",),
    "GET /api/v1/meetings/<int:meeting_id>": ("test_api_meetings_are_set_up_by_staff_and_read_by_their_people",),
    "POST /api/v1/meetings/<int:meeting_id>/minutes": (
        "test_api_meetings_are_set_up_by_staff_and_read_by_their_people",),
    "GET /api/v1/action-items": ("test_api_action_items_are_listed_for_their_meetings_and_closed_by_their_owner",),
    "POST /api/v1/action-items/<int:item_id>/done": (
        "test_api_action_items_are_listed_for_their_meetings_and_closed_by_their_owner",),
    "GET /api/v1/documents": ("test_api_documents_are_for_managers_and_their_parties",),
    "GET /api/v1/documents/<int:document_id>": ("test_api_documents_are_for_managers_and_their_parties",),
    "GET /api/v1/documents/<int:document_id>/pdf": ("test_api_documents_are_for_managers_and_their_parties",),
    "POST /api/v1/documents/verify": ("test_api_documents_are_for_managers_and_their_parties",),
    "GET /change-orders": ("test_change_order_pages_are_for_parties_and_managers",),
    "GET /change-orders/new": ("test_change_order_pages_are_for_parties_and_managers",),
    "POST /change-orders/new": ("test_change_order_pages_are_for_parties_and_managers",),
    "GET /change-orders/<int:order_id>": ("test_change_order_pages_are_for_parties_and_managers",),
    "GET /change-orders/tasks/<int:task_id>": ("test_change_order_revise_page_is_the_initiators",),
    "POST /change-orders/tasks/<int:task_id>": ("test_change_order_revise_page_is_the_initiators",),
    "GET /meetings": ("test_meeting_pages_are_for_their_people_and_managers",),
    "GET /meetings/new": ("test_meeting_pages_are_for_their_people_and_managers",),
    "POST /meetings/new": ("test_meeting_pages_are_for_their_people_and_managers",),
    "GET /meetings/<int:meeting_id>": ("test_meeting_pages_are_for_their_people_and_managers",),
    "GET /meetings/tasks/<int:task_id>": ("test_minutes_draft_page_is_the_recorders",),
    "POST /meetings/tasks/<int:task_id>": ("test_minutes_draft_page_is_the_recorders",),
    "GET /action-items": ("test_action_item_pages_show_own_items_and_only_owners_close_them",),
    "POST /action-items/<int:item_id>/done": ("test_action_item_pages_show_own_items_and_only_owners_close_them",),
    "GET /documents": ("test_document_pages_are_for_managers_and_their_parties",),
    "GET /documents/<int:document_id>": ("test_document_pages_are_for_managers_and_their_parties",),
    "GET /documents/<int:document_id>/pdf": ("test_document_pages_are_for_managers_and_their_parties",),
    "GET /documents/<int:document_id>/status": ("test_document_pages_are_for_managers_and_their_parties",),
    "POST /documents/<int:document_id>/retry": ("test_only_admins_retry_a_failed_document",),
    "GET /verify": ("test_the_verify_pages_are_public",),
    "POST /verify": ("test_the_verify_pages_are_public",),
    "GET /verify/<code>": ("test_the_verify_pages_are_public",),
}


def test_every_route_has_an_authorization_test(app):
    routes = {f"{method} {rule.rule}" for rule in app.url_map.iter_rules() if rule.endpoint != "static"
              for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}}
    missing = sorted(routes - set(COVERED))
    assert not missing, f"routes without an authorization test (add tests and list them in COVERED): {missing}"
    stale = sorted(set(COVERED) - routes)
    assert not stale, f"COVERED names routes that no longer exist: {stale}"
    unknown = sorted({name for names in COVERED.values() for name in names} - set(globals()))
    assert not unknown, f"COVERED names tests that do not exist: {unknown}"

