"""Shared helpers: a migrated app on a given database, timing statistics, SQL statement counting, results."""
from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import Flask

PROJECT = Path(__file__).resolve().parent.parent
QUICK = os.environ.get("BENCH_QUICK") == "1"  # smaller sample sizes, for trying the scripts out


def scaled(n: int, quick: int) -> int:
    return quick if QUICK else n


def database_arguments() -> argparse.Namespace:
    """The command line of a benchmark that runs on one database: --db, --url, --instance-dir, --out."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True, help="label: sqlite or postgres")
    parser.add_argument("--url", required=True)
    parser.add_argument("--instance-dir", required=True, type=Path)
    parser.add_argument("--out", required=True, type=Path)
    return parser.parse_args()


def make_app(database_url: str, instance_dir: Path) -> Flask:
    """A migrated app on ``database_url``, created the way tests/conftest.py creates one."""
    instance_dir.mkdir(parents=True, exist_ok=True)
    os.environ["APP_INSTANCE_PATH"] = str(instance_dir)
    from argon2 import PasswordHasher

    from app import create_app
    from app.services import accounts

    accounts._hasher = PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)  # cheap hashes, as in tests
    app = create_app({
        "TESTING": True, "SECRET_KEY": "bench-secret", "WTF_CSRF_ENABLED": False,
        "SQLALCHEMY_DATABASE_URI": database_url, "SERVER_NAME": None,
    })
    with app.app_context():
        from flask_migrate import upgrade
        upgrade(directory=str(PROJECT / "migrations"))
    return app


# ----------------------------------------------------------------------------- statistics

def percentile(values: list[float], p: float) -> float:
    """Linear-interpolated percentile (p in 0..100) of a non-empty list."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    k = (len(ordered) - 1) * p / 100
    lo = int(k)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def summary_ms(seconds: list[float]) -> dict[str, float]:
    ms = [s * 1000 for s in seconds]
    return {
        "n": len(ms), "median_ms": round(statistics.median(ms), 3), "p95_ms": round(percentile(ms, 95), 3),
        "p99_ms": round(percentile(ms, 99), 3), "min_ms": round(min(ms), 3), "max_ms": round(max(ms), 3),
    }


def timed(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


# ----------------------------------------------------------------------------- SQL statement counting

class StatementCounter:
    """Counts statements (and their time) an engine issues while ``active``."""

    def __init__(self, engine: sa.Engine) -> None:
        self.active = False
        self.statements: list[str] = []
        self.params: list[Any] = []
        self.sql_seconds = 0.0
        self._t0 = 0.0
        sa.event.listen(engine, "before_cursor_execute", self._before)
        sa.event.listen(engine, "after_cursor_execute", self._after)

    def _before(self, _conn: Any, _cursor: Any, statement: str, parameters: Any, _ctx: Any, _many: bool) -> None:
        if self.active:
            self.statements.append(statement)
            self.params.append(parameters)
            self._t0 = time.perf_counter()

    def _after(self, *_args: Any) -> None:
        if self.active:
            self.sql_seconds += time.perf_counter() - self._t0

    @contextmanager
    def capture(self) -> Iterator[StatementCounter]:
        self.statements, self.params, self.sql_seconds = [], [], 0.0
        self.active = True
        try:
            yield self
        finally:
            self.active = False


# ----------------------------------------------------------------------------- results

def write_partial(path: Path, results: dict[str, dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, ensure_ascii=False, default=str), encoding="utf-8")


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)
