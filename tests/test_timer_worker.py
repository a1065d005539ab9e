"""The real background worker fires timers on its own, and none is lost or fired twice when it dies.

These run `celery -A wsgi.celery_app worker -B` as a separate process on the embedded default
(filesystem broker) against the suite's database, exactly as `flask serve` does.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask

from app.database import write_transaction
from app.extensions import db
from app.models import ProcessEvent, ProcessInstance
from app.models.base import utcnow
from app.workflow import runtime
from tests.conftest import PROJECT, make_app


@pytest.fixture
def bpmn_dir(tmp_path: Path) -> Path:
    bpmn = tmp_path / "bpmn"
    shutil.copytree(PROJECT / "bpmn", bpmn)
    shutil.copy(Path(__file__).parent / "bpmn" / "timer_demo.bpmn", bpmn)
    return bpmn


@pytest.fixture
def timer_app(instance_dir: Path, app: Flask, bpmn_dir: Path) -> Flask:
    return make_app(instance_dir, BPMN_DIR=bpmn_dir)


def start_worker(flask_app: Flask, bpmn_dir: Path, instance: Path) -> subprocess.Popen[str]:
    for folder in ("broker/queue", "broker/control"):
        (instance / folder).mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    env.update({"APP_INSTANCE_PATH": str(instance), "DATABASE_URL": flask_app.config["SQLALCHEMY_DATABASE_URI"],
                "GOVASSURE_BPMN_DIR": str(bpmn_dir), "GOVASSURE_TIMER_SWEEP_SECONDS": "1.0"})
    return subprocess.Popen([sys.executable, "-m", "celery", "-A", "wsgi.celery_app", "worker", "-B",
                             "--pool=threads", "--concurrency=2", "--loglevel=WARNING",
                             "--schedule", str(instance / "celerybeat-schedule")],
                            cwd=PROJECT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)   # its own process group: beat runs as a child


def stop(worker: subprocess.Popen[str], sig: int = signal.SIGTERM) -> str:
    """Signal the worker's whole process group (SIGKILL leaves no child holding the output pipe)."""
    with contextlib.suppress(ProcessLookupError):   # it already exited (its output says why)
        os.killpg(worker.pid, sig)
    try:
        output, _ = worker.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(worker.pid, signal.SIGKILL)
        output, _ = worker.communicate(timeout=30)
    return output or ""


def start_instances(flask_app: Flask, count: int, due_in: timedelta) -> list[int]:
    with flask_app.app_context(), write_transaction():
        due = (utcnow() + due_in).isoformat()
        return [runtime.start("timer_demo", data={"deadline_at": due, "expired_status": "expired"},
                              business_key=None, title=f"限期审核 {n}", user=None).id for n in range(count)]


def completed(flask_app: Flask, ids: list[int]) -> int:
    with flask_app.app_context():
        return int(db.session.scalar(sa.select(sa.func.count()).select_from(ProcessInstance).where(
            ProcessInstance.id.in_(ids), ProcessInstance.status == "completed")) or 0)


def wait_until(condition, seconds: float, worker: subprocess.Popen[str]) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and worker.poll() is None:
        if condition():
            return True
        time.sleep(0.2)    # polling a real process
    return bool(condition())


def test_the_worker_fires_a_timer_on_its_own_within_seconds_of_its_due_time(people, timer_app, bpmn_dir, tmp_path):
    [instance_id] = start_instances(timer_app, 1, timedelta(seconds=4))
    due = utcnow() + timedelta(seconds=4)
    worker = start_worker(timer_app, bpmn_dir, tmp_path / "instance")
    try:
        fired = wait_until(lambda: completed(timer_app, [instance_id]) == 1, 60, worker)
    finally:
        output = stop(worker)
    assert fired, output[-3000:]
    with timer_app.app_context():
        at = db.session.scalar(sa.select(ProcessEvent.at).where(ProcessEvent.instance_id == instance_id,
                                                                ProcessEvent.type == "timer"))
        instance = db.session.get(ProcessInstance, instance_id)
        assert instance.case_status == "expired"
    assert at is not None
    # fired after it was due, and well within the 10 seconds the service promises
    assert -1 < (at - due).total_seconds() < 10, (at, due)


def test_killing_the_worker_while_timers_are_due_loses_none_and_fires_none_twice(people, timer_app, bpmn_dir,
                                                                                  tmp_path):
    ids = start_instances(timer_app, 30, timedelta(seconds=1))
    time.sleep(1.5)   # all due now, with no worker running: as after an outage
    first = start_worker(timer_app, bpmn_dir, tmp_path / "instance")
    try:
        started = wait_until(lambda: completed(timer_app, ids) >= 1, 60, first)
    finally:
        stop(first, signal.SIGKILL)     # mid-sweep: whatever it had not committed is rolled back
    assert started
    second = start_worker(timer_app, bpmn_dir, tmp_path / "instance")
    try:
        done = wait_until(lambda: completed(timer_app, ids) == len(ids), 90, second)
    finally:
        output = stop(second)
    assert done, output[-3000:]
    with timer_app.app_context():
        fired = db.session.execute(
            sa.select(ProcessEvent.instance_id, sa.func.count()).where(
                ProcessEvent.instance_id.in_(ids), ProcessEvent.type.in_(("task_cancelled", "instance_completed")))
            .group_by(ProcessEvent.instance_id)).all()
    assert sorted(n for _, n in fired) == [2] * len(ids)     # each: its task cancelled once, completed once
