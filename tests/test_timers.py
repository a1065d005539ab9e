"""The timer sweep: due instances fire from the indexed column, idempotently; failures are flagged."""
from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
import time_machine
from flask import Flask

from app.database import write_transaction
from app.extensions import db
from app.models import HumanTask, ProcessEvent, ProcessInstance
from app.models.base import utcnow
from app.tasks import sweep_timers
from app.workflow import runtime
from tests.conftest import PROJECT, make_app


@pytest.fixture
def timer_app(instance_dir: Path, app: Flask, tmp_path: Path) -> Flask:
    bpmn = tmp_path / "bpmn"
    shutil.copytree(PROJECT / "bpmn", bpmn)
    shutil.copy(Path(__file__).parent / "bpmn" / "timer_demo.bpmn", bpmn)
    return make_app(instance_dir, BPMN_DIR=bpmn)


def start(flask_app: Flask, due_in: timedelta, expired_status: object = "expired") -> int:
    with flask_app.app_context(), write_transaction():
        data = {"deadline_at": (utcnow() + due_in).isoformat(), "expired_status": expired_status}
        return runtime.start("timer_demo", data=data, business_key=None, title="限期审核", user=None).id


def test_a_due_timer_fires_once_and_cancels_the_open_task(people, timer_app):
    instance_id = start(timer_app, timedelta(hours=1))
    with timer_app.app_context():
        instance = db.session.get(ProcessInstance, instance_id)
        assert instance.next_timer_at is not None
        assert sweep_timers() == 0                             # not due yet: nothing happens
        with time_machine.travel(utcnow() + timedelta(hours=2)):
            assert sweep_timers() == 1
            assert sweep_timers() == 0                         # idempotent
        db.session.expire_all()
        instance = db.session.get(ProcessInstance, instance_id)
        assert instance.status == "completed" and instance.case_status == "expired"
        assert instance.next_timer_at is None
        task = db.session.scalar(sa.select(HumanTask).where(HumanTask.instance_id == instance_id))
        assert task.status == "cancelled"
        types = db.session.scalars(sa.select(ProcessEvent.type).where(ProcessEvent.instance_id == instance_id)
                                   .order_by(ProcessEvent.id)).all()
        assert types == ["started", "timer", "task_cancelled", "instance_completed"]


def test_a_timer_whose_script_fails_is_flagged_and_not_retried_every_tick(people, timer_app):
    instance_id = start(timer_app, timedelta(hours=1), expired_status=None)
    # the script ``case_status = expired_status`` works with None; break it by removing the variable
    with timer_app.app_context(), write_transaction():
        instance = db.session.get(ProcessInstance, instance_id)
        instance.state_json = instance.state_json.replace('"expired_status"', '"renamed_status"')
    with timer_app.app_context():
        with time_machine.travel(utcnow() + timedelta(hours=2)):
            assert sweep_timers() == 0
        db.session.expire_all()
        instance = db.session.get(ProcessInstance, instance_id)
        assert instance.status == "running" and "expired_status" in (instance.error or "")
        assert instance.next_timer_at is None
