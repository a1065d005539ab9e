"""The inbox: scopes, filters, paging, completing tasks through the API and the task page."""
from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
import time_machine
from flask import Flask

from app.database import write_transaction
from app.extensions import db
from app.models import HumanTask, ProcessEvent, ProcessInstance, User
from app.services import plans
from app.workflow import runtime, state
from tests.conftest import Api, plan_payload

REVIEW = "审核考核计划"


# ----------------------------------------------------------------------------- helpers

def submit_plans(app: Flask, names: list[str]) -> list[int]:
    """Submit one plan per name (as ``manager``); the ids of their instances, in order."""
    ids = []
    with app.app_context():
        manager = db.session.scalar(sa.select(User).where(User.username == "manager"))
        for name in names:
            with write_transaction():
                plan = plans.create_plan(manager, plan_payload(name=name))
                ids.append(plans.submit_plan(manager, plan).id)
    return ids


def review_task_ids(app: Flask) -> list[int]:
    """Ids of the open review tasks, newest first."""
    with app.app_context():
        return list(db.session.scalars(sa.select(HumanTask.id).where(
            HumanTask.name == REVIEW, HumanTask.status == "open").order_by(HumanTask.id.desc())))


def ids(api: Api, query: str) -> list[int]:
    response = api.get(f"/tasks?{query}")
    assert response.status_code == 200, response.json
    return [t["id"] for t in response.json["items"]]


def all_pages(api: Api, query: str, limit: int) -> list[list[int]]:
    pages, cursor = [], None
    while True:
        url = f"/tasks?{query}&limit={limit}" + (f"&cursor={cursor}" if cursor else "")
        body = api.get(url).json
        pages.append([t["id"] for t in body["items"]])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages
        assert len(pages) < 50, "paging does not end"


def cursor_of(values: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


def events_of(app: Flask, instance_id: int) -> list[ProcessEvent]:
    with app.app_context():
        return list(db.session.scalars(
            sa.select(ProcessEvent).where(ProcessEvent.instance_id == instance_id).order_by(ProcessEvent.id)))


def task_row(app: Flask, task_id: int) -> dict[str, Any]:
    with app.app_context():
        task = db.session.get(HumanTask, task_id)
        assert task is not None
        return {"status": task.status, "assignee": task.assignee.username if task.assignee else None,
                "completed_by": task.completed_by.username if task.completed_by else None}


# ----------------------------------------------------------------------------- scopes

def test_scopes_mine_candidate_and_done(people, app, api_as):
    submit_plans(app, ["计划一", "计划二"])
    newer, older = review_task_ids(app)
    reviewer, reviewer2 = api_as("reviewer"), api_as("reviewer2")
    assert ids(reviewer, "scope=mine") == []
    assert ids(reviewer, "scope=candidate") == [newer, older]

    reviewer.post(f"/tasks/{older}/claim")
    assert ids(reviewer, "scope=mine") == [older]
    assert ids(reviewer, "scope=candidate") == [newer, older]   # one's own claimed tasks stay listed
    assert ids(reviewer2, "scope=candidate") == [newer]          # a task claimed by someone else is gone
    assert ids(reviewer2, "scope=mine") == []

    reviewer.post(f"/tasks/{older}/complete", {"data": {"decision": "approve"}})
    # The approval left their inbox; as a member of the plan's evaluator unit (KHB) they now score it.
    assert ids(reviewer, "scope=mine&process=plan_approval") == []
    assert ids(reviewer, "scope=done") == [older]
    assert ids(reviewer2, "scope=done") == []
    assert ids(reviewer, "scope=candidate&process=plan_approval") == [newer]


def test_default_scope_is_mine_and_an_unknown_scope_is_rejected(people, app, api_as):
    submit_plans(app, ["计划一"])
    reviewer = api_as("reviewer")
    assert ids(reviewer, "") == []
    bad = reviewer.get("/tasks?scope=all")
    assert bad.status_code == 422 and "scope" in bad.json["errors"]


def test_the_revise_task_is_in_the_authors_mine_scope(people, app, api_as):
    submit_plans(app, ["计划一"])
    [task_id] = review_task_ids(app)
    api_as("reviewer").post(f"/tasks/{task_id}/complete", {"data": {"decision": "return", "comment": "请修改"}})
    mine = api_as("manager").get("/tasks?scope=mine").json["items"]
    assert [(t["name"], t["assignee"]) for t in mine] == [("修改考核计划", "manager")]
    assert ids(api_as("manager2"), "scope=mine") == []


# ----------------------------------------------------------------------------- filters

def test_process_filter(people, app, api_as):
    submit_plans(app, ["计划一", "计划二"])
    reviewer = api_as("reviewer")
    assert len(ids(reviewer, "scope=candidate&process=plan_approval")) == 2
    assert ids(reviewer, "scope=candidate&process=no_such_process") == []


def test_overdue_filter_lists_only_tasks_past_their_due_time(people, app, api_as):
    [first] = submit_plans(app, ["早提交的计划"])
    later = datetime.now(UTC) + timedelta(days=40)   # far past five working days, holidays included
    with time_machine.travel(later, tick=True):
        submit_plans(app, ["晚提交的计划"])
        reviewer = api_as("reviewer")            # tokens issued before the jump have expired
        items = reviewer.get("/tasks?scope=candidate&overdue=1").json["items"]
        assert [t["instance_id"] for t in items] == [first]
        assert datetime.fromisoformat(items[0]["due_at"]) < later
        assert len(ids(reviewer, "scope=candidate")) == 2
        assert [t["instance_id"] for t in reviewer.get("/tasks?scope=candidate&overdue=true").json["items"]] == [first]
    assert ids(api_as("reviewer"), "scope=candidate&overdue=1") == []  # back in the present, nothing is late


def test_overdue_tasks_are_marked_on_the_inbox_page(people, app, login):
    submit_plans(app, ["早提交的计划"])
    with time_machine.travel(datetime.now(UTC) + timedelta(days=40), tick=True):
        client = login("reviewer")
        page = client.get("/inbox?scope=candidate&overdue=1").get_data(as_text=True)
        assert "早提交的计划" in page and "已逾期" in page


def test_text_search_matches_task_name_or_case_title(people, app, api_as):
    submit_plans(app, ["2027年度安全考核计划", "2027年度服务考核计划"])
    reviewer = api_as("reviewer")
    assert [t["title"] for t in reviewer.get("/tasks?scope=candidate&q=安全").json["items"]] == ["2027年度安全考核计划"]
    assert len(ids(reviewer, "scope=candidate&q=审核考核")) == 2            # the task's name
    assert ids(reviewer, "scope=candidate&q=不存在的事项") == []


@pytest.mark.parametrize("pattern", ["%", "_", "\\"])
def test_text_search_treats_wildcards_literally(people, app, api_as, pattern):
    submit_plans(app, ["2027年度安全考核计划"])
    assert ids(api_as("reviewer"), f"scope=candidate&q={pattern}") == []


def test_filters_combine(people, app, api_as):
    submit_plans(app, ["安全计划", "服务计划"])
    reviewer = api_as("reviewer")
    assert len(ids(reviewer, "scope=candidate&process=plan_approval&q=安全")) == 1
    assert ids(reviewer, "scope=candidate&process=other&q=安全") == []


# ----------------------------------------------------------------------------- paging

def test_candidate_pages_have_no_duplicates_no_gaps_and_a_stable_order(people, app, api_as):
    submit_plans(app, [f"计划{i:02d}" for i in range(25)])
    everything = review_task_ids(app)
    assert len(everything) == 25
    reviewer = api_as("reviewer")
    pages = all_pages(reviewer, "scope=candidate", limit=10)
    assert [len(p) for p in pages] == [10, 10, 5]
    assert [i for page in pages for i in page] == everything            # newest first, each exactly once
    assert all_pages(reviewer, "scope=candidate", limit=10) == pages     # same answer twice


def test_mine_pages_cover_every_claimed_task(people, app, api_as):
    submit_plans(app, [f"计划{i:02d}" for i in range(12)])
    reviewer = api_as("reviewer")
    for task_id in review_task_ids(app):
        reviewer.post(f"/tasks/{task_id}/claim")
    pages = all_pages(reviewer, "scope=mine", limit=5)
    assert [len(p) for p in pages] == [5, 5, 2]
    assert [i for page in pages for i in page] == review_task_ids(app)


def test_done_pages_are_ordered_by_completion_time(people, app, api_as):
    submit_plans(app, [f"计划{i:02d}" for i in range(7)])
    reviewer = api_as("reviewer")
    completion_order = list(reversed(review_task_ids(app)))[::2] + list(reversed(review_task_ids(app)))[1::2]
    for task_id in completion_order:
        assert reviewer.post(f"/tasks/{task_id}/complete", {"data": {"decision": "approve"}}).status_code == 200
    pages = all_pages(reviewer, "scope=done", limit=3)
    assert [len(p) for p in pages] == [3, 3, 1]
    assert [i for page in pages for i in page] == list(reversed(completion_order))   # latest completion first


def test_tasks_arriving_while_paging_do_not_shift_later_pages(people, app, api_as):
    submit_plans(app, [f"计划{i:02d}" for i in range(6)])
    before = review_task_ids(app)
    reviewer = api_as("reviewer")
    first = reviewer.get("/tasks?scope=candidate&limit=3").json
    submit_plans(app, ["新来的计划"])
    second = reviewer.get(f"/tasks?scope=candidate&limit=3&cursor={first['next_cursor']}").json
    assert [t["id"] for t in first["items"] + second["items"]] == before


@pytest.mark.parametrize("cursor", ["not-base64!!", cursor_of([1, 2]), cursor_of({"id": "7"}),
                                    base64.urlsafe_b64encode(b"\xff\xfe").decode(), cursor_of({})])
def test_a_bad_cursor_is_rejected_with_422(people, app, api_as, cursor):
    submit_plans(app, ["计划一"])
    for scope in ("mine", "candidate", "done"):
        response = api_as("reviewer").get(f"/tasks?scope={scope}&cursor={cursor}")
        assert response.status_code == 422, (scope, response.status_code)
        assert response.json["errors"]["cursor"] == ["无效的分页游标，请从第一页重新浏览。"]


@pytest.mark.parametrize("cursor", [cursor_of({"id": 5}), cursor_of({"id": 5, "at": "2026-01-01T00:00:00"}),
                                    cursor_of({"id": 5, "at": 12})])
def test_a_bad_done_cursor_is_rejected_with_422(people, app, api_as, cursor):
    response = api_as("reviewer").get(f"/tasks?scope=done&cursor={cursor}")
    assert response.status_code == 422


def test_a_bad_limit_is_rejected_and_a_huge_one_is_capped(people, app, api_as):
    reviewer = api_as("reviewer")
    assert reviewer.get("/tasks?limit=many").status_code == 422
    submit_plans(app, [f"计划{i:03d}" for i in range(3)])
    assert len(ids(reviewer, "scope=candidate&limit=100000")) == 3
    assert len(ids(reviewer, "scope=candidate&limit=0")) == 1


def test_inbox_page_with_a_bad_cursor_starts_over(people, login):
    response = login("reviewer").get("/inbox?scope=candidate&cursor=garbage!")
    assert response.status_code == 302 and response.headers["Location"] == "/inbox?scope=candidate"


# ----------------------------------------------------------------------------- completing through the API

def test_completing_an_unclaimed_task_claims_it_for_the_completer(people, app, api_as):
    [instance_id] = submit_plans(app, ["计划一"])
    [task_id] = review_task_ids(app)
    response = api_as("reviewer2").post(f"/tasks/{task_id}/complete", {"data": {"decision": "approve"}})
    assert response.status_code == 200
    assert task_row(app, task_id) == {"status": "completed", "assignee": "reviewer2", "completed_by": "reviewer2"}
    detail = api_as("reviewer2").get(f"/tasks/{task_id}").json
    assert detail["assignee"] == "reviewer2" and detail["completed_by"] == "reviewer2" and not detail["can_act"]
    assert [e.type for e in events_of(app, instance_id)][-1] == "instance_completed"


def test_only_declared_form_fields_reach_the_process(people, app, api_as):
    [instance_id] = submit_plans(app, ["计划一"])
    [task_id] = review_task_ids(app)
    smuggled = {"decision": "return", "comment": "请修改", "case_status": "published", "plan_id": 999,
                "author": "manager2", "__import__": "os", "__builtins__": {}}
    assert api_as("reviewer").post(f"/tasks/{task_id}/complete", {"data": smuggled}).status_code == 200

    completed = [e for e in events_of(app, instance_id) if e.type == "completed"]
    assert [e.data for e in completed] == [{"decision": "return", "comment": "请修改"}]
    plan = api_as("manager").get("/plans").json["items"][0]
    assert plan["status"] == "returned"                       # not "published"
    revise = api_as("manager").get("/tasks?scope=mine").json["items"]
    assert [t["assignee"] for t in revise] == ["manager"]      # the author, not the smuggled one
    with app.app_context():
        workflow = runtime.load(db.session.get(ProcessInstance, instance_id))
        for task in workflow.get_tasks():
            assert not {"__import__", "__builtins__"} & set(task.data), task.task_spec.bpmn_id
            assert task.data.get("plan_id", plan["id"]) == plan["id"]
            assert task.data.get("author", "manager") == "manager"


@pytest.mark.parametrize("data, field", [
    ({"decision": "maybe"}, "decision"),
    ({}, "decision"),
    ({"decision": "return"}, "comment"),                    # a return needs a comment
    ({"decision": "return", "comment": "   "}, "comment"),
    ({"decision": "approve", "comment": "长" * 2001}, "comment"),
])
def test_invalid_data_is_rejected_and_changes_nothing(people, app, api_as, data, field):
    [instance_id] = submit_plans(app, ["计划一"])
    [task_id] = review_task_ids(app)
    before = len(events_of(app, instance_id))
    response = api_as("reviewer").post(f"/tasks/{task_id}/complete", {"data": data})
    assert response.status_code == 422 and field in response.json["errors"]
    assert task_row(app, task_id) == {"status": "open", "assignee": None, "completed_by": None}
    assert len(events_of(app, instance_id)) == before
    assert api_as("manager").get("/plans").json["items"][0]["status"] == "in_review"


@pytest.mark.parametrize("body", [{"data": "approve"}, {"data": ["approve"]}, ["data"], "approve"])
def test_a_malformed_body_is_rejected(people, app, api_as, body):
    submit_plans(app, ["计划一"])
    [task_id] = review_task_ids(app)
    response = api_as("reviewer").post(f"/tasks/{task_id}/complete", body)
    assert response.status_code in (400, 422)
    assert task_row(app, task_id)["status"] == "open"


def test_completing_a_completed_task_says_who_did_it(people, app, api_as):
    submit_plans(app, ["计划一"])
    [task_id] = review_task_ids(app)
    api_as("reviewer").post(f"/tasks/{task_id}/complete", {"data": {"decision": "approve"}})
    for api in (api_as("reviewer2"), api_as("reviewer")):
        again = api.post(f"/tasks/{task_id}/complete", {"data": {"decision": "return", "comment": "晚了"}})
        assert again.status_code == 409
        assert "已由 李审核 于" in again.json["error"] and again.json["errors"]["completed_by"] == ["李审核"]
    claim = api_as("reviewer2").post(f"/tasks/{task_id}/claim")
    assert claim.status_code == 409 and "李审核" in claim.json["error"]


def test_task_detail_describes_its_form(people, app, api_as):
    submit_plans(app, ["计划一"])
    [task_id] = review_task_ids(app)
    detail = api_as("reviewer").get(f"/tasks/{task_id}").json
    assert detail["name"] == REVIEW and detail["title"] == "计划一" and detail["can_act"] is True
    assert detail["role"] == "reviewer" and detail["form_key"] == "plan_review"
    form = detail["form"]
    assert form["key"] == "plan_review" and form["title"] == "审核考核计划"
    decision, comment = form["fields"]
    assert {k: decision[k] for k in ("name", "type", "label", "required", "choices")} == {
        "name": "decision", "type": "choice", "label": "审核结论", "required": True,
        "choices": [{"value": "approve", "label": "通过"}, {"value": "return", "label": "退回修改"}]}
    assert {k: comment[k] for k in ("name", "type", "label", "required", "choices", "max_length")} == {
        "name": "comment", "type": "textarea", "label": "审核意见", "required": False, "choices": None,
        "max_length": 2000}
    assert comment["required_when"] == {"decision": "return"}


def test_task_detail_says_when_the_user_cannot_act(people, app, api_as):
    submit_plans(app, ["计划一"])
    [task_id] = review_task_ids(app)
    api_as("reviewer").post(f"/tasks/{task_id}/claim")
    assert api_as("reviewer2").get(f"/tasks/{task_id}").json["can_act"] is False
    assert api_as("reviewer").get(f"/tasks/{task_id}").json["can_act"] is True


# ----------------------------------------------------------------------------- no workflow is loaded to read the inbox

@pytest.fixture
def no_deserializing(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: Any, **_kwargs: Any) -> Any:
        raise AssertionError("a workflow was deserialized")
    monkeypatch.setattr(runtime, "load", refuse)
    monkeypatch.setattr(runtime, "load_state", refuse)
    monkeypatch.setattr(state, "load_state", refuse)


def test_listing_counting_and_showing_tasks_never_loads_a_workflow(people, app, api_as, login, no_deserializing):
    instance_id = submit_plans(app, ["计划一", "计划二"])[0]
    newer, older = review_task_ids(app)
    reviewer = api_as("reviewer")
    reviewer.post(f"/tasks/{older}/claim")
    for scope in ("mine", "candidate", "done"):
        assert reviewer.get(f"/tasks?scope={scope}&q=计划&process=plan_approval&overdue=1").status_code == 200
        assert reviewer.get(f"/tasks?scope={scope}&limit=1").status_code == 200
    assert reviewer.get(f"/tasks/{newer}").status_code == 200
    assert reviewer.get(f"/instances/{instance_id}").status_code == 200
    client = login("reviewer")
    for scope in ("mine", "candidate", "done"):
        assert client.get(f"/inbox?scope={scope}").status_code == 200   # also renders the badge counts
    assert client.get(f"/tasks/{newer}").status_code == 200
    assert client.get(f"/tasks/{older}").status_code == 200
    assert client.get(f"/instances/{instance_id}").status_code == 200


def test_completing_does_load_the_workflow(people, app, api_as, no_deserializing):
    """The guard above is real: the one operation that needs the engine trips it."""
    submit_plans(app, ["计划一"])
    [task_id] = review_task_ids(app)
    with pytest.raises(AssertionError, match="deserialized"):
        api_as("reviewer").post(f"/tasks/{task_id}/complete", {"data": {"decision": "approve"}})


# ----------------------------------------------------------------------------- the HTML inbox and task page

def test_inbox_page_lists_the_candidate_tasks_with_their_case(people, app, login):
    submit_plans(app, ["2027年度安全考核计划"])
    client = login("reviewer")
    page = client.get("/inbox?scope=candidate").get_data(as_text=True)
    assert REVIEW in page and "2027年度安全考核计划" in page and "认领" in page
    assert "没有待办任务" in client.get("/inbox?scope=mine").get_data(as_text=True)


def test_inbox_page_search_filters_rows(people, app, login):
    submit_plans(app, ["安全计划", "服务计划"])
    page = login("reviewer").get("/inbox?scope=candidate&q=安全").get_data(as_text=True)
    assert "安全计划" in page and "服务计划" not in page


def test_inbox_page_pages_with_next_links(people, app, login):
    app_size = app.config["INBOX_PAGE_SIZE"]
    submit_plans(app, [f"计划{i:02d}" for i in range(app_size + 1)])
    page = login("reviewer").get("/inbox?scope=candidate").get_data(as_text=True)
    assert "下一页" in page
    assert page.count(f">{REVIEW}</a>") == app_size


def test_task_page_shows_validation_errors_in_place(people, app, login):
    [instance_id] = submit_plans(app, ["计划一"])
    [task_id] = review_task_ids(app)
    client = login("reviewer")
    before = len(events_of(app, instance_id))
    response = client.post(f"/tasks/{task_id}", data={"decision": "return", "comment": ""})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "此种情况下必须填写此项。" in page
    assert re.search(r'<input checked[^>]*value="return"', page)    # the choice is kept
    assert task_row(app, task_id)["status"] == "open" and len(events_of(app, instance_id)) == before


def test_task_page_requires_a_decision(people, app, login):
    submit_plans(app, ["计划一"])
    [task_id] = review_task_ids(app)
    response = login("reviewer").post(f"/tasks/{task_id}", data={"comment": "没有结论"})
    assert response.status_code == 422 and "此项为必填项。" in response.get_data(as_text=True)


def test_task_page_submit_completes_and_shows_the_instance(people, app, login):
    [instance_id] = submit_plans(app, ["计划一"])
    [task_id] = review_task_ids(app)
    client = login("reviewer")
    response = client.post(f"/tasks/{task_id}", data={"decision": "return", "comment": "请补充指标"},
                           follow_redirects=True)
    assert response.status_code == 200 and response.request.path == f"/instances/{instance_id}"
    page = response.get_data(as_text=True)
    assert f"已提交：{REVIEW}" in page and "请补充指标" in page
    assert task_row(app, task_id) == {"status": "completed", "assignee": "reviewer", "completed_by": "reviewer"}


def test_claim_and_release_buttons(people, app, login):
    submit_plans(app, ["计划一"])
    [task_id] = review_task_ids(app)
    client = login("reviewer")
    page = client.get(f"/tasks/{task_id}").get_data(as_text=True)
    assert f'action="/tasks/{task_id}/claim"' in page

    claimed = client.post(f"/tasks/{task_id}/claim", follow_redirects=True)
    assert claimed.request.path == f"/tasks/{task_id}"
    page = claimed.get_data(as_text=True)
    assert "已认领" in page and "认领人：李审核" in page and f'action="/tasks/{task_id}/unclaim"' in page
    assert task_row(app, task_id)["assignee"] == "reviewer"
    assert REVIEW in client.get("/inbox?scope=mine").get_data(as_text=True)

    released = client.post(f"/tasks/{task_id}/unclaim", follow_redirects=True)
    assert released.request.path == "/inbox" and "已释放" in released.get_data(as_text=True)
    assert task_row(app, task_id)["assignee"] is None
    assert "认领人：未认领" in client.get(f"/tasks/{task_id}").get_data(as_text=True)


def test_the_inbox_badges_count_the_users_tasks(people, app, login):
    submit_plans(app, ["计划一", "计划二"])
    client = login("reviewer")
    client.post(f"/tasks/{review_task_ids(app)[0]}/claim")
    page = client.get("/inbox?scope=mine").get_data(as_text=True)
    assert 'text-bg-primary">1</span>' in page         # 我的待办
    assert 'text-bg-secondary">2</span>' in page       # 组待办 (the claimed one included)

