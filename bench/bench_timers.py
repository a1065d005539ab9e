"""The timer scheduler: a tick's cost follows what is due, not what is waiting; and how late timers fire.

``timer_tick_ratio_<db>``: median time of one scheduler tick (``app.tasks.sweep_timers``) that fires 10
due timers while 10,000 others wait ÷ the same tick with 10 waiting; same database, same run,
interleaved. Goal ≤ 1.5.
``timer_latency_s`` (SQLite, the embedded default): median delay between a timer's due time and its
firing, with the real worker and beat started the way ``flask serve`` starts them (the default sweep
every TIMER_SWEEP_SECONDS = 5 s). Goal ≤ 5 s.

Waiting instances are copies of one real started instance (its engine state included), inserted with
Core; the due ones are fresh copies each repetition, so every tick fires exactly 10.

Usage: python -m bench.bench_timers --db sqlite --url URL --instance-dir DIR --out FILE [--latency]
"""
from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import Flask

from bench.common import PROJECT, log, make_app, scaled, summary_ms, write_partial

WAITING_LARGE = scaled(10_000, 2_000)
WAITING_SMALL = 10
DUE = 10
REPS = scaled(7, 3)
LATENCY_TIMERS = scaled(12, 4)


def bpmn_dir(instance_dir: Path) -> Path:
    target = instance_dir / "bpmn"
    if not target.exists():
        shutil.copytree(PROJECT / "bpmn", target)
        shutil.copy(PROJECT / "tests" / "bpmn" / "timer_demo.bpmn", target)
    return target


def template_row(app: Flask) -> dict[str, Any]:
    """One real instance waiting on its deadline timer, as a row to copy."""
    from app.database import write_transaction
    from app.extensions import db
    from app.models import ProcessInstance
    from app.workflow import runtime

    with app.app_context(), write_transaction():
        due = (datetime.now(UTC) + timedelta(days=365)).isoformat()
        instance = runtime.start("timer_demo", data={"deadline_at": due, "expired_status": "expired"},
                                 business_key=None, title="限期审核", user=None)
        instance_id = instance.id
    with app.app_context():
        row = db.session.execute(sa.select(ProcessInstance.__table__).where(
            ProcessInstance.__table__.c.id == instance_id)).mappings().one()
        return {k: v for k, v in row.items() if k != "id"}


def add_copies(app: Flask, template: dict[str, Any], count: int, due_at: datetime) -> list[int]:
    from app.database import write_transaction
    from app.extensions import db
    from app.models import ProcessInstance

    table = ProcessInstance.__table__
    with app.app_context(), write_transaction():
        ids = []
        for start in range(0, count, 1000):
            rows = [{**template, "next_timer_at": due_at, "title": f"限期审核 {start + n}"}
                    for n in range(min(1000, count - start))]
            result = db.session.execute(sa.insert(table).returning(table.c.id), rows)
            ids.extend(r[0] for r in result)
        return ids


def tick_seconds(app: Flask, template: dict[str, Any]) -> float:
    """Add 10 due copies, then time one tick that fires them."""
    from app.tasks import sweep_timers

    now = datetime.now(UTC)
    add_copies(app, template, DUE, now - timedelta(seconds=1))
    with app.app_context():
        t0 = time.perf_counter()
        fired = sweep_timers(now)
        elapsed = time.perf_counter() - t0
    assert fired == DUE, fired
    return elapsed


def tick_ratio(label: str, url_small: str, url_large: str, instance_dir: Path) -> dict[str, Any]:
    apps = {}
    for name, url, waiting in (("small", url_small, WAITING_SMALL), ("large", url_large, WAITING_LARGE)):
        app = make_app(url, instance_dir / name)
        app.config["BPMN_DIR"] = str(bpmn_dir(instance_dir))
        from app.workflow import runtime
        app.extensions["bpmn"] = runtime.load_registry(Path(app.config["BPMN_DIR"]), Path(app.config["FORMS_DIR"]))
        template = template_row(app)
        add_copies(app, template, waiting, datetime.now(UTC) + timedelta(days=30))
        apps[name] = (app, template)
        log(f"{label}: {waiting:,} waiting timers seeded ({name})")
    for app, template in apps.values():
        tick_seconds(app, template)   # warm-up: spec cache, connections
    samples: dict[str, list[float]] = {"small": [], "large": []}
    for _ in range(REPS):
        for name, (app, template) in apps.items():
            samples[name].append(tick_seconds(app, template))
    ratio = statistics.median(samples["large"]) / statistics.median(samples["small"])
    log(f"{label}: timer_tick_ratio {ratio:.2f}")
    return {f"timer_tick_ratio_{label}": {
        "value": round(ratio, 2), "goal": 1.5, "unit": "x",
        "detail": {"waiting_large": WAITING_LARGE, "waiting_small": WAITING_SMALL, "due_per_tick": DUE,
                   "large": summary_ms(samples["large"]), "small": summary_ms(samples["small"])}}}


def latency(url: str, instance_dir: Path) -> dict[str, Any]:
    """The real worker + beat on the embedded default; timers due one after another over ~15 s."""
    from app.extensions import db
    from app.models import ProcessEvent

    app = make_app(url, instance_dir / "latency")
    bpmn = bpmn_dir(instance_dir)
    app.config["BPMN_DIR"] = str(bpmn)
    from app.workflow import runtime
    app.extensions["bpmn"] = runtime.load_registry(bpmn, Path(app.config["FORMS_DIR"]))
    worker_dir = instance_dir / "latency-worker"
    for folder in ("broker/queue", "broker/control"):
        (worker_dir / folder).mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    env.update({"APP_INSTANCE_PATH": str(worker_dir), "DATABASE_URL": url, "GOVASSURE_BPMN_DIR": str(bpmn)})
    worker = subprocess.Popen([sys.executable, "-m", "celery", "-A", "wsgi.celery_app", "worker", "-B",
                               "--pool=threads", "--concurrency=2", "--loglevel=WARNING",
                               "--schedule", str(worker_dir / "celerybeat-schedule")],
                              cwd=PROJECT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    try:
        time.sleep(8)   # let the worker and beat start
        template = template_row(app)
        start = datetime.now(UTC)
        dues = {}
        for n in range(LATENCY_TIMERS):
            due = start + timedelta(seconds=2 + n * 1.37)   # off the sweep's rhythm
            [instance_id] = add_copies(app, template, 1, due)
            dues[instance_id] = due
        deadline = time.monotonic() + 60 + LATENCY_TIMERS * 2
        delays: dict[int, float] = {}
        while time.monotonic() < deadline and len(delays) < len(dues):
            time.sleep(0.5)
            with app.app_context():
                for instance_id, at in db.session.execute(sa.select(ProcessEvent.instance_id, ProcessEvent.at).where(
                        ProcessEvent.instance_id.in_(list(dues)), ProcessEvent.type == "timer")):
                    delays[instance_id] = (at - dues[instance_id]).total_seconds()
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
    values = sorted(delays.values())
    median = statistics.median(values) if values else float("nan")
    log(f"timer_latency_s {median:.2f} ({len(values)}/{len(dues)} fired)")
    return {"timer_latency_s": {
        "value": round(median, 2), "goal": 5.0, "unit": "s",
        "detail": {"timers": len(dues), "fired": len(values), "delays_s": [round(v, 2) for v in values],
                   "sweep_seconds": app.config["TIMER_SWEEP_SECONDS"]}}}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--url-small", required=True)
    parser.add_argument("--url-large", required=True)
    parser.add_argument("--instance-dir", required=True, type=Path)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--latency", action="store_true", help="also measure timer_latency_s (embedded default)")
    args = parser.parse_args()
    results = tick_ratio(args.db, args.url_small, args.url_large, args.instance_dir)
    if args.latency:
        results |= latency(args.url_small.replace("small", "latency"), args.instance_dir)
    write_partial(args.out, results)


if __name__ == "__main__":
    main()
