"""The group inbox at scale: ``GET /api/v1/tasks?scope=candidate&limit=50`` with 10k and with 1M human_task rows.

``inbox_p95_ms_1m_<db>``: p95 latency (Flask test client, bearer token, no text search) with 1,000,000
rows of which 100,000 are open. ``inbox_scale_ratio_<db>``: that p95 ÷ the p95 at 10,000 rows (1,000
open), measured on the same database before it is grown. Rows are bulk-loaded with SQL (one SQLite
transaction / COPY on PostgreSQL); the plan of the candidate query is checked with EXPLAIN.

Usage: python -m bench.bench_inbox --db sqlite --url URL --instance-dir DIR --out FILE
"""
from __future__ import annotations

import argparse
import json
import random
import re
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import Flask

from bench.common import QUICK, StatementCounter, log, make_app, scaled, summary_ms, write_partial

SMALL = 10_000
LARGE = 100_000 if QUICK else 1_000_000
OPEN_SHARE = 0.10
N_UNITS = 40
N_USERS = 200
N_INSTANCES = 300
URL = "/api/v1/tasks?scope=candidate&limit=50"

# ~10 roles, skewed the way a real programme is (many evaluations and unit tasks, few leader sign-offs)
ROLE_WEIGHTS = {
    "evaluator": 22, "assessed_unit": 20, "reviewer": 12, "contractor": 10, "supervisor": 8,
    "quality_team": 8, "assessment_manager": 8, "owner": 5, "leader": 4, "admin": 3,
}
QUERY_ROLES = ("evaluator", "reviewer")  # the querying user's roles ...
QUERY_UNIT = 7                           # ... and unit (unit ids are 1..N_UNITS)
PROBE_ROLE = "assessed_unit"             # a second user: a role whose tasks always name a unit
UNIT_BOUND_ROLES = {PROBE_ROLE}
TASK_KINDS = [  # bpmn_id, name, process_id, form_key
    ("review_plan", "审核考核计划", "plan_approval", "plan_review"),
    ("revise_plan", "修改考核计划", "plan_approval", "plan_revise"),
    ("score_indicator", "指标评分", "assessment", "score"),
    ("submit_evidence", "提交佐证材料", "assessment", "evidence"),
    ("rectify", "整改反馈", "rectification", "rectify"),
    ("sign_off", "领导审批", "assessment", "sign_off"),
]
HT_COLUMNS = ("id", "instance_id", "spiff_task_id", "bpmn_id", "name", "process_id", "title", "lane", "role",
              "candidate_unit_id", "assignee_id", "form_key", "priority", "due_at", "status", "created_at",
              "claimed_at", "completed_by_id", "completed_at")
T0 = datetime(2026, 1, 1, tzinfo=UTC)


# ----------------------------------------------------------------------------- data

def human_task_rows(first_id: int, count: int, sqlite: bool, rng: random.Random) -> Iterator[tuple[Any, ...]]:
    """Rows in id order; open tasks spread over all ids, roles and units (30% with no candidate unit)."""
    roles = list(ROLE_WEIGHTS)
    weights = list(ROLE_WEIGHTS.values())
    unit_weights = [1 / (i + 1) ** 0.5 for i in range(N_UNITS)]  # some units much busier than others
    units = list(range(1, N_UNITS + 1))
    step = timedelta(seconds=365 * 86400 / LARGE)

    def ts(value: datetime | None) -> Any:
        if value is None or not sqlite:
            return value
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")  # how SQLAlchemy stores a DateTime on SQLite

    for task_id in range(first_id, first_id + count):
        role = rng.choices(roles, weights)[0]
        bpmn_id, name, process_id, form_key = TASK_KINDS[task_id % len(TASK_KINDS)]
        unit_bound = role in UNIT_BOUND_ROLES or rng.random() < 0.7
        unit = rng.choices(units, unit_weights)[0] if unit_bound else None
        created = T0 + step * task_id
        due = created + timedelta(days=rng.choice((5, 10, 15))) if rng.random() < 0.8 else None
        draw = rng.random()
        assignee = claimed = done_by = done_at = None
        if draw < OPEN_SHARE:
            status = "open"
            if rng.random() < 0.25:  # claimed by someone
                assignee = rng.randint(1, N_USERS + 1)  # + 1: the querying user holds some too
                claimed = created + timedelta(hours=rng.randint(1, 48))
        elif draw < OPEN_SHARE + 0.02:
            status = "cancelled"
        else:
            status = "completed"
            assignee = done_by = rng.randint(1, N_USERS)
            claimed = created + timedelta(hours=rng.randint(1, 48))
            done_at = claimed + timedelta(hours=rng.randint(1, 200))
        instance = 1 + task_id % N_INSTANCES
        yield (task_id, instance, f"{task_id:08x}-0000-4000-8000-{instance:012x}", bpmn_id, name, process_id,
               f"2027年度运维考核计划 {instance}", role, role, unit, assignee, form_key, rng.choice((30, 50, 50, 70)),
               ts(due), status, ts(created), ts(claimed), done_by, ts(done_at))


def seed_reference_rows(app: Flask, rng: random.Random) -> dict[str, str]:
    """Units, users (1–2 roles each), a spec and a few hundred instances; returns the querying users' tokens."""
    from app.database import write_transaction
    from app.extensions import db
    from app.models import ProcessInstance, ProcessSpec, Unit, User, UserRole
    from app.models.base import utcnow
    from app.services import accounts

    kinds = ("department", "city", "contractor", "supervisor", "owner")
    with app.app_context(), write_transaction():
        now = utcnow()
        db.session.execute(sa.insert(Unit), [
            {"id": i, "code": f"U{i:02d}", "name": f"单位{i:02d}", "kind": kinds[i % len(kinds)], "active": True,
             "created_at": now} for i in range(1, N_UNITS + 1)])
        db.session.execute(sa.insert(User), [
            {"id": i, "username": f"user{i:03d}", "name": f"用户{i:03d}", "password_hash": "x", "active": True,
             "unit_id": rng.randint(1, N_UNITS), "created_at": now} for i in range(1, N_USERS + 1)])
        roles = list(ROLE_WEIGHTS)
        db.session.execute(sa.insert(UserRole), [
            {"user_id": i, "role": r} for i in range(1, N_USERS + 1) for r in rng.sample(roles, rng.randint(1, 2))])
        db.session.execute(sa.insert(ProcessSpec), [{
            "id": 1, "process_id": "plan_approval", "content_hash": "0" * 64, "name": "考核计划审批",
            "spec_json": "{}", "bpmn_xml": "<definitions/>", "created_at": now}])
        db.session.execute(sa.insert(ProcessInstance), [
            {"id": i, "process_id": "plan_approval", "spec_id": 1, "business_key": None,
             "title": f"2027年度运维考核计划 {i}", "status": "running", "serializer_version": "1.5",
             "state_json": "{}", "trail": [], "created_at": now, "updated_at": now, "version": 1}
            for i in range(1, N_INSTANCES + 1)])
        if db.engine.dialect.name == "postgresql":  # explicit ids above: move the sequences past them
            for table in ("unit", "user_account", "process_spec", "process_instance"):
                sql = f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"  # noqa: S608
                db.session.execute(sa.text(sql))
        # the querying user: two roles and a unit; user id N_USERS + 1
        user = accounts.create_user("inbox_user", "收件人", "Passw0rd!x", list(QUERY_ROLES), f"U{QUERY_UNIT:02d}")
        token, _ = accounts.issue_token(user)
        assert user.id == N_USERS + 1  # human_task_rows() assigns some open tasks to this id
        probe = accounts.create_user("probe_user", "被考核单位联络员", "Passw0rd!x", [PROBE_ROLE], f"U{QUERY_UNIT:02d}")
        probe_token, _ = accounts.issue_token(probe)
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == N_USERS + 2
    return {"main": token, "probe": probe_token}


def bulk_load(app: Flask, first_id: int, count: int, rng: random.Random) -> float:
    """Insert ``count`` human_task rows directly with SQL; returns seconds taken (incl. ANALYZE on PG)."""
    from app.extensions import db

    t0 = time.perf_counter()
    with app.app_context():
        engine = db.engine
    rows = human_task_rows(first_id, count, engine.dialect.name == "sqlite", rng)
    if engine.dialect.name == "sqlite":
        path = engine.url.database
        assert path
        conn = sqlite3.connect(path, isolation_level=None)
        try:
            # A large page cache for the load only, so the four secondary indexes are built in memory.
            conn.execute("PRAGMA cache_size = -524288")
            conn.execute("PRAGMA synchronous = OFF")
            conn.execute("BEGIN IMMEDIATE")
            placeholders = ", ".join("?" * len(HT_COLUMNS))
            conn.executemany(
                "INSERT INTO human_task (" + ", ".join(HT_COLUMNS) + ") VALUES (" + placeholders + ")",  # noqa: S608
                rows)
            conn.execute("COMMIT")
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            conn.close()
    else:
        raw = engine.raw_connection()
        try:
            pg = raw.driver_connection
            assert pg is not None
            with pg.cursor() as cur:
                # Foreign keys hold by construction; skip their per-row triggers during the bulk load.
                cur.execute("SET session_replication_role = replica")
                with cur.copy("COPY human_task (" + ", ".join(HT_COLUMNS) + ") FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
                cur.execute("SET session_replication_role = DEFAULT")
                cur.execute("SELECT setval(pg_get_serial_sequence('human_task', 'id'), max(id)) FROM human_task")
            pg.commit()
            pg.autocommit = True
            with pg.cursor() as cur:
                cur.execute("VACUUM (ANALYZE) human_task")
            pg.autocommit = False
        finally:
            raw.close()
    return time.perf_counter() - t0


def table_counts(app: Flask) -> dict[str, int]:
    from app.extensions import db
    from app.models import HumanTask

    with app.app_context():
        total = db.session.scalar(sa.select(sa.func.count()).select_from(HumanTask)) or 0
        opened = db.session.scalar(sa.select(sa.func.count()).select_from(HumanTask)
                                   .where(HumanTask.status == "open")) or 0
        return {"rows": total, "open": opened}


# ----------------------------------------------------------------------------- measuring

@dataclass
class Target:
    """One database: the small (10k rows) or the large (1M rows) one, with its own app."""

    label: str
    app: Flask
    tokens: dict[str, str]
    counter: StatementCounter
    counts: dict[str, int]
    load_seconds: float


def build(label: str, url: str, instance_dir: Path, rows: int) -> Target:
    rng = random.Random(20270101)
    app = make_app(url, instance_dir)
    tokens = seed_reference_rows(app, rng)
    seconds = bulk_load(app, 1, rows, rng)
    with app.app_context():
        from app.extensions import db
        counter = StatementCounter(db.engine)
    target = Target(label, app, tokens, counter, table_counts(app), seconds)
    log(f"inbox: {label} database {target.counts} loaded in {seconds:.1f} s")
    return target


def measure(targets: list[Target], who: str, warmup: int, requests: int) -> dict[str, list[float]]:
    """Requests to the databases interleaved one for one (order alternating), so noise hits all alike."""
    clients = {t.label: (t.app.test_client(), {"Authorization": f"Bearer {t.tokens[who]}"}) for t in targets}
    times: dict[str, list[float]] = {t.label: [] for t in targets}
    for i in range(warmup + requests):
        for t in (targets if i % 2 else targets[::-1]):
            client, headers = clients[t.label]
            t0 = time.perf_counter()
            response = client.get(URL, headers=headers)
            elapsed = time.perf_counter() - t0
            assert response.status_code == 200, response.json
            if i >= warmup:
                times[t.label].append(elapsed)
    return times


def inspect(target: Target, who: str) -> dict[str, Any]:
    """Statements issued by one request (and by the other scopes), and the plan of the candidate query."""
    client = target.app.test_client()
    headers = {"Authorization": f"Bearer {target.tokens[who]}"}
    with target.counter.capture() as c:
        body = client.get(URL, headers=headers).json
    assert body is not None
    candidate = next((s, p) for s, p in zip(c.statements, c.params, strict=True) if "UNION ALL" in s)
    info: dict[str, Any] = {
        "items": len(body["items"]), "next_cursor": bool(body["next_cursor"]),
        "statements_per_request": len(c.statements), "sql_ms_per_request": round(c.sql_seconds * 1000, 3),
        "statements": [" ".join(s.split())[:160] for s in c.statements],
        "plan": explain(target.app, *candidate),
    }
    for scope in ("mine", "done"):
        with target.counter.capture() as c:
            page = client.get(f"/api/v1/tasks?scope={scope}&limit=50", headers=headers).json
        assert page is not None
        info[f"scope_{scope}"] = {"items": len(page["items"]), "statements": len(c.statements)}
    return info


def explain(app: Flask, statement: str, params: Any) -> dict[str, Any]:
    from app.extensions import db

    with app.app_context(), db.engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            lines = [r[0] for r in conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + statement, params)]
        else:
            lines = [f"{r[0]}|{r[1]}|{r[3]}" for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params)]
    text = "\n".join(lines)
    full_scans = [line for line in lines if "Seq Scan on human_task" in line
                  or ("SCAN human_task" in line and "USING" not in line)]
    return {
        "indexes_used": sorted(set(re.findall(r"\b(?:ix|pk)_human_task\w*", text))),
        "uses_pool_indexes": "ix_human_task_pool_" in text,
        "uses_ix_human_task_assignee": "ix_human_task_assignee" in text,
        "full_scans_of_human_task": len(full_scans),
        "pk_backward_scans": text.count("Index Scan Backward using pk_human_task"),
        "sorts_after_index_scan": text.count("top-N heapsort") + text.count("TEMP B-TREE"),
        "lines": lines,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True, help="label: sqlite or postgres")
    parser.add_argument("--url-small", required=True)
    parser.add_argument("--url-large", required=True)
    parser.add_argument("--instance-dir", required=True, type=Path)
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args()

    log(f"inbox [{args.db}]: building the {SMALL:,}-row and the {LARGE:,}-row databases")
    small = build("small", args.url_small, args.instance_dir / "small", SMALL)
    large = build("large", args.url_large, args.instance_dir / "large", LARGE)
    log(f"inbox [{args.db}]: measuring")
    main_times = measure([small, large], "main", scaled(50, 20), scaled(300, 60))
    probe_times = measure([small, large], "probe", 5, scaled(60, 20))  # fewer: slow when the plan is bad
    s, lg = summary_ms(main_times["small"]), summary_ms(main_times["large"])
    ps, pl = summary_ms(probe_times["small"]), summary_ms(probe_times["large"])
    log(f"inbox [{args.db}]: p95 {s['p95_ms']} ms at {small.counts['rows']:,} rows, "
        f"{lg['p95_ms']} ms at {large.counts['rows']:,} rows; probe user {ps['p95_ms']} / {pl['p95_ms']} ms")

    detail = {
        "rows_small": small.counts, "rows_large": large.counts,
        "load_seconds": {"small": round(small.load_seconds, 1), "large": round(large.load_seconds, 1)},
        "query_user": {"roles": list(QUERY_ROLES), "unit_id": QUERY_UNIT},
        "at_small": {**s, **inspect(small, "main")}, "at_large": {**lg, **inspect(large, "main")},
        "probe_user": {
            "why": (f"holds only {PROBE_ROLE!r}, a role whose tasks always name a candidate unit, so its "
                    "'candidate_unit_id IS NULL' branch matches nothing although the statistics predict rows"),
            "at_small": ps, "at_large": {**pl, **inspect(large, "probe")},
        },
        "method": (f"{s['n']} requests per database after warm-up, small and large interleaved one for one; "
                   f"Flask test client, {URL}; rows inserted with "
                   + ("one executemany transaction (no ANALYZE: the app runs none)" if args.db == "sqlite"
                      else "COPY (FK triggers off while loading), then VACUUM (ANALYZE)")),
    }
    results = {
        f"inbox_p95_ms_1m_{args.db}": {"value": lg["p95_ms"], "goal": 25.0, "unit": "ms", "detail": detail},
        f"inbox_scale_ratio_{args.db}": {
            "value": round(lg["p95_ms"] / s["p95_ms"], 3), "goal": 1.5, "unit": "x",
            "detail": {"p95_ms_small": s["p95_ms"], "p95_ms_large": lg["p95_ms"],
                       "median_ms_small": s["median_ms"], "median_ms_large": lg["median_ms"],
                       "median_ratio": round(lg["median_ms"] / s["median_ms"], 3),
                       "probe_user_p95_ratio": round(pl["p95_ms"] / ps["p95_ms"], 3)},
        },
    }
    write_partial(args.out, results)
    print(json.dumps({k: v["value"] for k, v in results.items()}, indent=1))


if __name__ == "__main__":
    main()
