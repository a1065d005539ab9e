"""Recomputing a plan's results against the database doing the bare aggregate.

``scoring_ratio_<db>``: median wall time of ``app.services.scoring.compute()`` (the plan read in a
fresh session, every object's total, grade, rank and fee ratio by the documented method) ÷ median
time of one SQL ``GROUP BY`` returning AVG(score) per object × indicator × evaluator group over the
same entries, fetched; same database, same run, interleaved one for one.
``scoring_seconds_<db>``: that compute() median in seconds.

Data: 200 objects × 100 manual leaf indicators (10 parents × 10) × 3 evaluator groups of 5
evaluators = 300,000 submitted entries, bulk-inserted with Core.

Usage: python -m bench.bench_scoring --db sqlite --url URL --instance-dir DIR --out FILE
"""
from __future__ import annotations

import random
import statistics
import time
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from flask import Flask

from bench.common import database_arguments, log, make_app, scaled, summary_ms, write_partial

N_OBJECTS = scaled(200, 40)
N_PARENTS, N_LEAVES_EACH = 10, 10
GROUPS = (("EVA1", 50), ("EVA2", 30), ("EVA3", 20))   # evaluator groups: a unit each, with its weight
PER_GROUP = 5
REPS = scaled(9, 3)
CHUNK = 10_000


def seed(app: Flask, rng: random.Random) -> tuple[int, int]:
    """The plan through the service (validated like any other); units, users and entries with Core."""
    from app.database import write_transaction
    from app.extensions import db
    from app.models import Plan, Role, ScoreEntry, Unit, User
    from app.services import accounts, plans

    with app.app_context(), write_transaction():
        now = datetime.now(UTC)
        db.session.execute(sa.insert(Unit), [
            {"code": f"OBJ{i:03d}", "name": f"考核对象{i:03d}", "kind": "department", "active": True, "created_at": now}
            for i in range(N_OBJECTS)] + [
            {"code": code, "name": f"评估单位{code}", "kind": "department", "active": True, "created_at": now}
            for code, _ in GROUPS] + [{"code": "KHB", "name": "考核办", "kind": "office", "active": True,
                                       "created_at": now}])
        units = dict(db.session.execute(sa.select(Unit.code, Unit.id)).all())
        db.session.execute(sa.insert(User), [
            {"username": f"{code.lower()}_{k}", "name": f"评估人{code}{k}", "password_hash": "-",
             "unit_id": units[code], "active": True, "created_at": now}
            for code, _ in GROUPS for k in range(PER_GROUP)])
        manager = accounts.create_user("manager", "王考核", "Passw0rd!x", [Role.ASSESSMENT_MANAGER], "KHB")
        payload = {
            "name": "基准计划", "cycle": "year", "period_start": "2027-01-01", "period_end": "2027-12-31",
            "indicators": [{"code": f"P{p}", "name": f"一级指标{p}", "weight": 10, "children": [
                {"code": f"P{p}L{leaf}", "name": f"末级指标{p}-{leaf}", "weight": 10, "max_score": 100}
                for leaf in range(N_LEAVES_EACH)]} for p in range(N_PARENTS)],
            "evaluators": [{"unit": code, "weight": weight} for code, weight in GROUPS],
            "objects": [f"OBJ{i:03d}" for i in range(N_OBJECTS)],
            "payment_bands": [{"min": 90, "ratio": 1}, {"min": 75, "ratio": "0.9"}, {"min": 60, "ratio": "0.7"}],
        }
        plan_id = plans.create_plan(manager, payload).id
        plan = db.session.get(Plan, plan_id)
        assert plan is not None
        leaves = [i.id for i in plan.indicators if i.parent_id is not None]
        group_of = {g.ref: g.id for g in plan.evaluators}
        evaluators = [(uid, group_of[code]) for code, uid in db.session.execute(
            sa.select(Unit.code, User.id).join(User, User.unit_id == Unit.id).where(Unit.code.in_(group_of))
            .order_by(User.id))]
        objects = [o.unit_id for o in plan.objects]
        assert len(leaves) == N_PARENTS * N_LEAVES_EACH and len(evaluators) == len(GROUPS) * PER_GROUP

    rows: list[dict[str, Any]] = []
    count = 0
    with app.app_context():
        with db.engine.begin() as conn:
            for obj in objects:
                quality = rng.uniform(40, 100)   # objects differ, so totals, grades and ranks spread out
                for leaf in leaves:
                    for user_id, group_id in evaluators:
                        raw = min(100_000, max(0, int(rng.gauss(quality, 12) * 1000)))
                        rows.append({"plan_id": plan_id, "object_id": obj, "indicator_id": leaf,
                                     "evaluator_id": user_id, "group_id": group_id,
                                     "score": Decimal(raw).scaleb(-3), "submitted": True, "updated_at": now})
                        if len(rows) == CHUNK:
                            conn.execute(sa.insert(ScoreEntry), rows)
                            count += len(rows)
                            rows = []
            if rows:
                conn.execute(sa.insert(ScoreEntry), rows)
                count += len(rows)
        if db.engine.dialect.name == "postgresql":
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
                c.exec_driver_sql("VACUUM ANALYZE score_entry")
        else:
            with db.engine.begin() as c:
                c.exec_driver_sql("ANALYZE")
    return plan_id, count


BASELINE = sa.text(
    "SELECT object_id, indicator_id, group_id, AVG(score) FROM score_entry"
    " WHERE plan_id = :plan AND submitted GROUP BY object_id, indicator_id, group_id")


def run_project(app: Flask, plan_id: int) -> float:
    from app.extensions import db
    from app.models import Plan
    from app.services import scoring

    with app.app_context():
        t0 = time.perf_counter()
        plan = db.session.get(Plan, plan_id)
        assert plan is not None
        scoring.compute(plan)
        elapsed = time.perf_counter() - t0
        db.session.rollback()
    return elapsed


def run_baseline(app: Flask, plan_id: int) -> float:
    from app.extensions import db

    with app.app_context():
        t0 = time.perf_counter()
        db.session.execute(BASELINE, {"plan": plan_id}).all()
        elapsed = time.perf_counter() - t0
        db.session.rollback()
    return elapsed


def run_api_items(app: Flask, plan_id: int) -> float:
    """What GET /plans/<id>/results does for a staff user: compute, every entry as evidence, JSON items."""
    from flask import json

    from app.extensions import db
    from app.models import Plan
    from app.services import scoring

    with app.app_context():
        t0 = time.perf_counter()
        plan = db.session.get(Plan, plan_id)
        assert plan is not None
        computed = scoring.compute(plan)
        evidence = scoring.evidence_for(computed)
        json.dumps({"items": [scoring.result_dict(r, evidence) for r in computed.results]})
        elapsed = time.perf_counter() - t0
        db.session.rollback()
    return elapsed


def warm_up_and_check(app: Flask, plan_id: int) -> dict[str, Any]:
    """Untimed: both sides see the same entries (group means agree with AVG to float precision)."""
    from app.extensions import db
    from app.models import Plan
    from app.services import scoring

    with app.app_context():
        plan = db.session.get(Plan, plan_id)
        assert plan is not None
        computed = scoring.compute(plan)
        baseline_rows = db.session.execute(BASELINE, {"plan": plan_id}).all()
        return check(computed, baseline_rows)


def check(computed: Any, baseline_rows: list[Any]) -> dict[str, Any]:
    groups = {str(g.id): g for g in computed.plan.evaluators}
    assert len(baseline_rows) == N_OBJECTS * N_PARENTS * N_LEAVES_EACH * len(groups), len(baseline_rows)
    assert computed.complete and all(r.rank is not None for r in computed.results)
    first = computed.results[0]
    leaf = first.indicators[0].children[0]
    codes = {i.code: i.id for i in computed.plan.indicators}
    units = {o.unit.code: o.unit.id for o in computed.plan.objects}
    avg = {(r[0], r[1], str(r[2])): float(r[3]) for r in baseline_rows}
    for group, value in leaf.group_scores.items():   # max_score is 100, so normalised == raw
        assert abs(float(value) - avg[(units[first.object], codes[leaf.code], group)]) < 1e-9
    grades: dict[str, int] = {}
    for r in computed.results:
        grades[r.grade] = grades.get(r.grade, 0) + 1
    return {"grades": grades, "best_total": str(max(r.total for r in computed.results))}


def main() -> None:
    args = database_arguments()

    log(f"scoring [{args.db}]: migrating")
    app = make_app(args.url, args.instance_dir)
    t0 = time.perf_counter()
    plan_id, entries = seed(app, random.Random(4))
    log(f"scoring [{args.db}]: seeded {entries:,} entries in {time.perf_counter() - t0:.1f} s")

    sanity = warm_up_and_check(app, plan_id)
    project: list[float] = []
    baseline: list[float] = []
    for i in range(REPS):   # alternate who goes first, so neither side always meets a warm cache
        if i % 2:
            project.append(run_project(app, plan_id))
            baseline.append(run_baseline(app, plan_id))
        else:
            baseline.append(run_baseline(app, plan_id))
            project.append(run_project(app, plan_id))
    api_items = [run_api_items(app, plan_id) for _ in range(scaled(3, 1))]
    p_median, b_median = statistics.median(project), statistics.median(baseline)
    ratio = p_median / b_median
    log(f"scoring [{args.db}]: ratio {ratio:.2f} (compute {p_median:.3f} s, GROUP BY {b_median:.3f} s)")

    detail = {
        "entries": entries, "objects": N_OBJECTS, "leaf_indicators": N_PARENTS * N_LEAVES_EACH,
        "groups": len(GROUPS), "evaluators_per_group": PER_GROUP,
        "compute": summary_ms(project), "group_by": summary_ms(baseline),
        "compute_seconds": round(p_median, 3), "group_by_seconds": round(b_median, 3),
        "api_items_with_evidence": summary_ms(api_items), "sanity": sanity,
        "method": (f"{REPS} interleaved runs per side after one warm-up each; compute() with the plan read in a "
                   "fresh session vs. SELECT object, indicator, group, AVG(score) … GROUP BY, fetched"),
    }
    write_partial(args.out, {
        f"scoring_ratio_{args.db}": {"value": round(ratio, 3), "goal": 3.0, "unit": "x", "detail": detail},
        f"scoring_seconds_{args.db}": {"value": round(p_median, 3), "goal": 2.0, "unit": "s",
                                       "detail": {"group_by_seconds": round(b_median, 3)}},
    })


if __name__ == "__main__":
    main()
