"""Real concurrency: two people act on the same task or plan at the same moment.

Each racer is a real thread with its own Flask test client (so its own app context and database
session, as two requests in production) and a bearer token obtained beforehand; a Barrier releases
both requests together. The locking design (``app.database.write_transaction``: BEGIN IMMEDIATE on
SQLite, ``SELECT … FOR UPDATE`` of the instance or plan row on PostgreSQL) must let exactly one
through and tell the other who beat them. Each race is repeated so that both orders get exercised.
Runs unchanged on SQLite and on PostgreSQL (DATABASE_URL).
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

import sqlalchemy as sa
from flask import Flask

from app.extensions import db
from app.models import HumanTask, Plan, ProcessEvent, ProcessInstance, TaskStatus, User
from tests.conftest import Api, plan_payload

RACES = 10
TIMEOUT = 60  # seconds for one race; a lock that never clears fails the test instead of hanging it


def own_client(app: Flask, api: Api) -> Api:
    """The same bearer token on a client of its own, for use in another thread."""
    return Api(app.test_client(), api.headers["Authorization"].removeprefix("Bearer "))


def race(*calls: Callable[[], Any]) -> list[Any]:
    """Run the calls in parallel threads, released together by a barrier; results in call order.

    An exception in a racer (a 500 propagates out of the test client in TESTING mode) is re-raised
    here with its original traceback.
    """
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], Any]) -> Any:
        barrier.wait(timeout=TIMEOUT)
        return call()

    with ThreadPoolExecutor(max_workers=len(calls), thread_name_prefix="racer") as pool:
        futures = [pool.submit(run, call) for call in calls]
        return [f.result(timeout=TIMEOUT) for f in futures]


def display_name(app: Flask, username: str) -> str:
    with app.app_context():
        name: str = db.session.scalar(sa.select(User.name).where(User.username == username))
        return name


def user_id(app: Flask, username: str) -> int:
    with app.app_context():
        uid: int = db.session.scalar(sa.select(User.id).where(User.username == username))
        return uid


def submitted_plan(manager: Api, n: int) -> tuple[int, int]:
    """A new plan, submitted for review: (plan id, instance id)."""
    created = manager.post("/plans", plan_payload(name=f"并发测试计划 {n}"))
    assert created.status_code == 201, created.json
    submitted = manager.post(f"/plans/{created.json['id']}/submit")
    assert submitted.status_code == 201, submitted.json
    return created.json["id"], submitted.json["instance_id"]


def review_task_id(app: Flask, instance_id: int) -> int:
    with app.app_context():
        ids = db.session.scalars(sa.select(HumanTask.id).where(
            HumanTask.instance_id == instance_id, HumanTask.status == TaskStatus.OPEN)).all()
    assert len(ids) == 1, ids
    return ids[0]


def split(responses: list[Any], ok: int) -> tuple[int, Any]:
    """(index of the winner, the loser's response); exactly one got ``ok`` and the other 409."""
    statuses = [r.status_code for r in responses]
    assert sorted(statuses) == sorted([ok, 409]), [(r.status_code, r.json) for r in responses]
    winner = statuses.index(ok)
    return winner, responses[1 - winner]


def test_two_reviewers_completing_the_same_task_at_once_one_wins(app, people, api_as):
    manager = api_as("manager")
    racers = ["reviewer", "reviewer2"]
    clients = [own_client(app, api_as(u)) for u in racers]
    names = {u: display_name(app, u) for u in racers}
    ids = {u: user_id(app, u) for u in [*racers, "manager"]}
    winners = []
    for n in range(RACES):
        plan_id, instance_id = submitted_plan(manager, n)
        task_id = review_task_id(app, instance_id)
        # The two reviewers disagree, so the outcome also shows whose decision was applied.
        decisions = [{"decision": "approve", "comment": "同意"},
                     {"decision": "return", "comment": f"第 {n} 轮：请修改权重"}]
        if n % 2:
            decisions.reverse()

        responses = race(*[partial(c.post, f"/tasks/{task_id}/complete", {"data": d})
                           for c, d in zip(clients, decisions, strict=True)])

        w, lost = split(responses, 200)
        winner, decision = racers[w], decisions[w]["decision"]
        winners.append(winner)
        assert names[winner] in lost.json["error"], (lost.json, winner)
        assert names[racers[1 - w]] not in lost.json["error"]
        assert lost.json["errors"]["completed_by"] == [names[winner]]

        with app.app_context():
            rows = db.session.scalars(sa.select(HumanTask).where(HumanTask.instance_id == instance_id)
                                      .order_by(HumanTask.id)).all()
            completed = [r for r in rows if r.status == TaskStatus.COMPLETED]
            open_rows = [r for r in rows if r.status == TaskStatus.OPEN]
            assert [(r.id, r.completed_by_id, r.assignee_id) for r in completed] == [
                (task_id, ids[winner], ids[winner])]
            assert not [r for r in rows if r.status not in (TaskStatus.COMPLETED, TaskStatus.OPEN)]
            plan = db.session.get(Plan, plan_id)
            instance = db.session.get(ProcessInstance, instance_id)
            assert plan is not None and instance is not None
            if decision == "approve":
                assert open_rows == []
                assert plan.status == "published" and plan.published_at is not None
                assert instance.status == "completed"
            else:
                assert [(r.bpmn_id, r.assignee_id) for r in open_rows] == [("revise_plan", ids["manager"])]
                assert plan.status == "returned"
                assert instance.status == "running"
            events = db.session.scalars(sa.select(ProcessEvent).where(
                ProcessEvent.instance_id == instance_id, ProcessEvent.type == "completed")).all()
            assert [(e.task_id, e.user_id, e.decision) for e in events] == [(task_id, ids[winner], decision)]
            assert db.session.scalar(sa.select(sa.func.count()).select_from(ProcessInstance).where(
                ProcessInstance.business_key == f"plan:{plan_id}")) == 1

        # The API agrees: one completion in the history, attributed to the winner.
        history = manager.get(f"/instances/{instance_id}").json["events"]
        assert [(e["user"], e["decision"]) for e in history if e["type"] == "completed"] == [(winner, decision)]
    print(f"complete race winners: {winners}")


def test_two_reviewers_claiming_the_same_task_at_once_one_gets_it(app, people, api_as):
    manager = api_as("manager")
    racers = ["reviewer", "reviewer2"]
    clients = [own_client(app, api_as(u)) for u in racers]
    names = {u: display_name(app, u) for u in racers}
    ids = {u: user_id(app, u) for u in racers}
    winners = []
    for n in range(RACES):
        _plan_id, instance_id = submitted_plan(manager, n)
        task_id = review_task_id(app, instance_id)

        responses = race(*[partial(c.post, f"/tasks/{task_id}/claim") for c in clients])

        w, lost = split(responses, 200)
        winner = racers[w]
        winners.append(winner)
        assert responses[w].json["assignee"] == winner and responses[w].json["status"] == "open"
        assert names[winner] in lost.json["error"], (lost.json, winner)
        assert lost.json["errors"]["assignee"] == [names[winner]]

        with app.app_context():
            task = db.session.get(HumanTask, task_id)
            assert task is not None
            assert (task.status, task.assignee_id) == (TaskStatus.OPEN, ids[winner])
            claims = db.session.scalars(sa.select(ProcessEvent).where(
                ProcessEvent.instance_id == instance_id, ProcessEvent.type == "claimed")).all()
            assert [(e.task_id, e.user_id) for e in claims] == [(task_id, ids[winner])]
            assert db.session.scalar(sa.select(sa.func.count()).select_from(HumanTask).where(
                HumanTask.instance_id == instance_id)) == 1

        # Only the holder may now act on it.
        loser_client = clients[1 - w]
        again = loser_client.post(f"/tasks/{task_id}/complete", {"data": {"decision": "approve"}})
        assert again.status_code == 409 and names[winner] in again.json["error"]
    print(f"claim race winners: {winners}")


def test_submitting_the_same_draft_twice_at_once_starts_one_instance(app, people, api_as):
    # The author on two devices (two tokens), pressing "submit" on both at the same moment.
    tabs = [own_client(app, api_as("manager")) for _ in range(2)]
    for n in range(RACES):
        created = tabs[0].post("/plans", plan_payload(name=f"并发提交计划 {n}"))
        assert created.status_code == 201, created.json
        plan_id = created.json["id"]

        responses = race(*[partial(t.post, f"/plans/{plan_id}/submit") for t in tabs])

        w, lost = split(responses, 201)
        assert "草稿" in lost.json["error"], lost.json
        instance_id = responses[w].json["instance_id"]
        with app.app_context():
            instances = db.session.scalars(sa.select(ProcessInstance).where(
                ProcessInstance.business_key == f"plan:{plan_id}")).all()
            assert [i.id for i in instances] == [instance_id]
            plan = db.session.get(Plan, plan_id)
            assert plan is not None and (plan.status, plan.instance_id) == ("in_review", instance_id)
            tasks = db.session.scalars(sa.select(HumanTask).where(HumanTask.instance_id == instance_id)).all()
            assert [(t.bpmn_id, t.status) for t in tasks] == [("review_plan", TaskStatus.OPEN)]
            started = db.session.scalar(sa.select(sa.func.count()).select_from(ProcessEvent).where(
                ProcessEvent.instance_id == instance_id, ProcessEvent.type == "started"))
            assert started == 1
