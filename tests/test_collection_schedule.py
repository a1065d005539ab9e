"""Scheduled collection: beat's sweep runs only due sources, and two schedulers never run one twice."""
from __future__ import annotations

import os
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
import time_machine

from app.database import write_transaction
from app.extensions import db
from app.models import CollectionRun, DataSource
from app.models.base import utcnow
from app.services import collection
from tests.test_collection import GOOD, source
from tests.test_concurrency import race

T0 = datetime(2027, 3, 1, 1, 0, tzinfo=UTC)
RACES = 8


def sweep(app) -> int:
    with app.app_context():
        return collection.sweep()


def test_beat_runs_the_collection_sweep_every_minute(app):
    entry = app.extensions["celery"].conf.beat_schedule["collect-due-sources"]
    assert entry == {"task": "app.tasks.collect_due_sources", "schedule": 60.0}
    from app.tasks import collect_due_sources
    assert collect_due_sources.name == "app.tasks.collect_due_sources"


def test_only_due_sources_run_and_each_then_waits_its_interval(app, people, api_as, source_server):
    with time_machine.travel(T0, tick=False) as traveller:
        manager = api_as("manager")
        every5 = source(manager, source_server.answer("/a", GOOD), name="五分钟", schedule_minutes=5)
        source(manager, source_server.answer("/b", GOOD), name="每小时", schedule_minutes=60)
        source(manager, source_server.answer("/c", GOOD), name="仅手动")
        assert every5["next_run_at"] == T0.isoformat()

        def hits() -> list[int]:
            return [len(source_server.hits(p)) for p in ("/a", "/b", "/c")]

        assert sweep(app) == 2 and hits() == [1, 1, 0]
        assert sweep(app) == 0 and hits() == [1, 1, 0]            # nothing is due twice
        traveller.shift(timedelta(minutes=4))
        assert sweep(app) == 0
        traveller.shift(timedelta(minutes=2))                      # T0 + 6 min: only the 5-minute one
        assert sweep(app) == 1 and hits() == [2, 1, 0]
        traveller.move_to(T0 + timedelta(minutes=61))              # both; the missed ticks are not made up
        assert sweep(app) == 2 and hits() == [3, 2, 0]
        shown = {s["name"]: s["next_run_at"] for s in manager.get("/datasources").json["items"]}
        assert shown == {"五分钟": (T0 + timedelta(minutes=66)).isoformat(),
                         "每小时": (T0 + timedelta(minutes=121)).isoformat(), "仅手动": None}
        runs = manager.get(f"/datasources/{every5['id']}/runs").json["items"]
        assert [(r["trigger"], r["status"], r["started_at"]) for r in runs] == [
            ("schedule", "ok", (T0 + timedelta(minutes=m)).isoformat()) for m in (61, 6, 0)]


def test_a_failing_scheduled_source_is_logged_and_does_not_stop_the_others(app, people, api_as, source_server):
    with time_machine.travel(T0, tick=False):
        manager = api_as("manager")
        broken = source(manager, source_server.answer("/broken", "nope", status=503), name="坏", schedule_minutes=5)
        fine = source(manager, source_server.answer("/fine", GOOD), name="好", schedule_minutes=5)
        assert sweep(app) == 2
        assert manager.get(f"/datasources/{broken['id']}/runs").json["items"][0]["status"] == "failed"
        assert manager.get(f"/datasources/{fine['id']}/runs").json["items"][0]["status"] == "ok"


def make_due(app, source_id: int) -> None:
    with app.app_context(), write_transaction():
        db.session.get(DataSource, source_id).next_run_at = utcnow() - timedelta(seconds=1)


def test_two_schedulers_sweeping_at_once_read_a_due_source_once(app, people, api_as, source_server):
    """Real threads, each with its own app context and database connection, released together."""
    created = source(api_as("manager"), source_server.answer("/r", GOOD), schedule_minutes=5)
    for n in range(RACES):
        make_due(app, created["id"])
        assert sorted(race(lambda: sweep(app), lambda: sweep(app))) == [0, 1], n
    assert len(source_server.hits("/r")) == RACES
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(CollectionRun.id))) == RACES


@pytest.mark.postgres
@pytest.mark.skipif(not os.environ.get("DATABASE_URL", "").startswith("postgresql"),
                    reason="SKIP LOCKED is PostgreSQL's; SQLite serialises schedulers with BEGIN IMMEDIATE")
def test_a_source_claimed_by_another_scheduler_is_skipped_not_waited_for(app, people, api_as, source_server):
    created = source(api_as("manager"), source_server.answer("/r", GOOD), schedule_minutes=5)
    make_due(app, created["id"])
    holding, release = threading.Event(), threading.Event()
    first: list[int] = []

    def hold_the_claim() -> None:
        with app.app_context(), write_transaction():
            first.extend(collection.claim_due(utcnow()))
            holding.set()
            release.wait(20)          # the row stays locked until this transaction ends

    holder = threading.Thread(target=hold_the_claim)
    holder.start()
    try:
        assert holding.wait(20)
        with app.app_context(), write_transaction():
            started = time.monotonic()
            second = collection.claim_due(utcnow())
            waited = time.monotonic() - started
    finally:
        release.set()
        holder.join(20)
    assert first == [created["id"]] and second == [] and waited < 2
