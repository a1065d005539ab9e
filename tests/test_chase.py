"""催办: overdue tasks are chased once, escalated to leaders later; BPMN deadline timers do the same."""
from __future__ import annotations

import shutil
import threading
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
import time_machine
from flask import Flask

from app.database import write_transaction
from app.extensions import db
from app.models import HumanTask, Notification, ProcessEvent, User
from app.models.base import utcnow
from app.tasks import sweep_overdue, sweep_timers
from app.workflow import runtime
from tests.conftest import PROJECT, make_app, plan_payload


def events(app: Flask, instance_id: int) -> list[tuple[str, str | None]]:
    with app.app_context():
        return [(e.type, e.task_name) for e in db.session.scalars(
            sa.select(ProcessEvent).where(ProcessEvent.instance_id == instance_id).order_by(ProcessEvent.id))]


def inbox_of(app: Flask, username: str) -> list[tuple[str, str]]:
    with app.app_context():
        user = db.session.scalar(sa.select(User).where(User.username == username))
        return [(n.kind, n.title) for n in db.session.scalars(
            sa.select(Notification).where(Notification.user_id == user.id).order_by(Notification.id))]


@pytest.fixture
def review(people, api_as, app) -> tuple[int, int]:
    """A plan under review: (instance id, task id); its review task is due in 5 working days."""
    manager = api_as("manager")
    plan_id = manager.post("/plans", plan_payload()).json["id"]
    instance_id = manager.post(f"/plans/{plan_id}/submit").json["instance_id"]
    with app.app_context():
        task = db.session.scalar(sa.select(HumanTask).where(HumanTask.instance_id == instance_id))
        assert task.due_at is not None
        return instance_id, task.id


def test_an_overdue_task_is_chased_once_then_escalated_to_leaders(app, review):
    instance_id, _task_id = review
    with app.app_context():
        assert sweep_overdue() == 0                                   # not due yet
        with time_machine.travel(utcnow() + timedelta(days=10)):
            assert sweep_overdue() == 1
            assert sweep_overdue() == 0                               # chased once
        with time_machine.travel(utcnow() + timedelta(days=10, hours=47)):
            assert sweep_overdue() == 0                               # not yet escalated (48 h)
        with time_machine.travel(utcnow() + timedelta(days=12, hours=1)):
            assert sweep_overdue() == 1
            assert sweep_overdue() == 0
    assert [e for e in events(app, instance_id) if e[0] in ("overdue", "escalated")] == [
        ("overdue", "审核考核计划"), ("escalated", "审核考核计划")]
    # the candidates (reviewers; never the author) are chased, and the leader hears of it
    assert inbox_of(app, "reviewer") == [("overdue", "逾期催办：审核考核计划")]
    assert inbox_of(app, "reviewer2") == [("overdue", "逾期催办：审核考核计划")]
    assert inbox_of(app, "manager") == []
    assert inbox_of(app, "leader") == [("escalated", "逾期督办：审核考核计划")]


def test_the_overdue_event_is_timed_when_the_sweep_fired(app, review):
    instance_id, _ = review
    later = utcnow() + timedelta(days=10, minutes=7)
    with app.app_context(), time_machine.travel(later, tick=False):
        sweep_overdue()
    with app.app_context():
        at = db.session.scalar(sa.select(ProcessEvent.at).where(ProcessEvent.instance_id == instance_id,
                                                                ProcessEvent.type == "overdue"))
        assert abs((at - later).total_seconds()) < 1


def test_a_completed_task_is_never_chased(app, review, api_as):
    _, task_id = review
    api_as("reviewer").post(f"/tasks/{task_id}/complete", {"data": {"decision": "approve"}})
    with app.app_context(), time_machine.travel(utcnow() + timedelta(days=30)):
        chased = sweep_overdue()
    # the new plan's scoring tasks may be due later, but the completed review is not chased
    with app.app_context():
        assert db.session.get(HumanTask, task_id).chased_at is None
        assert chased == db.session.scalar(sa.select(sa.func.count()).select_from(HumanTask).where(
            HumanTask.chased_at.is_not(None)))


def test_managers_chase_by_hand(app, review, api_as):
    instance_id, task_id = review
    response = api_as("manager").post(f"/tasks/{task_id}/chase", {"comment": "请本周内完成"})
    assert response.status_code == 200, response.json
    assert ("chased", "审核考核计划") in events(app, instance_id)
    assert inbox_of(app, "reviewer") == [("chased", "催办：审核考核计划")]
    assert api_as("reviewer").post(f"/tasks/{task_id}/chase", {}).status_code == 403
    assert api_as("manager").post("/tasks/999999/chase", {}).status_code == 404
    api_as("reviewer").post(f"/tasks/{task_id}/complete", {"data": {"decision": "approve"}})
    assert api_as("manager").post(f"/tasks/{task_id}/chase", {}).status_code == 409


# ----------------------------------------------------------------------------- BPMN deadline timers

@pytest.fixture
def chase_app(instance_dir: Path, app: Flask, tmp_path: Path) -> Flask:
    bpmn = tmp_path / "bpmn"
    shutil.copytree(PROJECT / "bpmn", bpmn)
    shutil.copy(Path(__file__).parent / "bpmn" / "chase_demo.bpmn", bpmn)
    return make_app(instance_dir, BPMN_DIR=bpmn)


def start_demo(flask_app: Flask, escalate_hours: int = 3) -> int:
    now = utcnow()
    data = {"deadline_at": (now + timedelta(hours=1)).isoformat(),
            "escalate_at": (now + timedelta(hours=escalate_hours)).isoformat()}
    with flask_app.app_context(), write_transaction():
        return runtime.start("chase_demo", data=data, business_key=None, title="限期审核演示", user=None).id


def test_boundary_deadline_timers_chase_and_escalate_exactly_once(people, chase_app):
    instance_id = start_demo(chase_app)
    with chase_app.app_context():
        task = db.session.scalar(sa.select(HumanTask).where(HumanTask.instance_id == instance_id))
        assert task.due_at is not None                          # dueDate: the inbox shows the deadline
        with time_machine.travel(utcnow() + timedelta(hours=1, minutes=1)):
            assert sweep_timers() == 1                          # the overdue timer fires…
            assert sweep_overdue() == 0                         # …and the sweep finds it chased already
        with time_machine.travel(utcnow() + timedelta(hours=3, minutes=1)):
            assert sweep_timers() == 1
            assert sweep_timers() == 0
    kinds = [e for e in events(chase_app, instance_id) if e[0] in ("overdue", "escalated")]
    assert kinds == [("overdue", "限期审核"), ("escalated", "限期审核")]
    with chase_app.app_context():
        task = db.session.get(HumanTask, task.id)
        assert task.status == "open" and task.chased_at is not None and task.escalated_at is not None
    assert [k for k, _ in inbox_of(chase_app, "leader")] == ["escalated"]
    assert [k for k, _ in inbox_of(chase_app, "reviewer")] == ["overdue"]


def test_a_task_with_its_own_escalation_timer_is_not_escalated_by_the_sweep(people, chase_app):
    """The sweep escalates 48 hours after a chase; a process that draws its own timer decides itself."""
    instance_id = start_demo(chase_app, escalate_hours=100)
    start = utcnow()
    with chase_app.app_context():
        with time_machine.travel(start + timedelta(hours=2)):
            assert sweep_timers() == 1                           # overdue at the deadline
        with time_machine.travel(start + timedelta(hours=60)):
            assert sweep_overdue() == 0                          # past 48 h, but the process has its own timer
        with time_machine.travel(start + timedelta(hours=100, minutes=1)):
            assert sweep_timers() == 1
    assert [e[0] for e in events(chase_app, instance_id) if e[0] in ("overdue", "escalated")] == [
        "overdue", "escalated"]


@pytest.mark.postgres
def test_two_schedulers_chase_a_task_once(app, review):
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        pytest.skip("needs PostgreSQL")
    instance_id, _ = review
    later = utcnow() + timedelta(days=10)
    barrier = threading.Barrier(2)
    counts: list[int] = []

    def sweep() -> None:
        with app.app_context(), time_machine.travel(later, tick=False):
            barrier.wait()
            counts.append(sweep_overdue())

    threads = [threading.Thread(target=sweep) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(counts) == [0, 1]
    assert [e for e in events(app, instance_id) if e[0] == "overdue"] == [("overdue", "审核考核计划")]
