"""Automatic collection (自动采集, A2.4): running sources, the scheduler's claim, and scores from values.

A run reads its source *outside* any write transaction (a slow server must not hold SQLite's write
lock or a PostgreSQL row lock for up to a minute) and then records the run and, only when nothing
went wrong, its values, in one short transaction. A failed run stores no value, so the latest ``ok``
run of a source, whose values scoring uses, stays in force.
"""
from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import sqlalchemy as sa

from app.database import is_postgres, write_transaction
from app.extensions import db
from app.models import CollectedValue, CollectionRun, DataSource, Indicator, Plan, PlanStatus, User
from app.models.base import utcnow
from app.scoring import method
from app.services import adapters, datasources, secrets
from app.services.errors import Conflict, NotFound

log = logging.getLogger(__name__)
SHOWN = Decimal("0.001")


def _read(source: DataSource) -> adapters.Reading:
    try:
        return adapters.read(datasources.spec(source))
    except secrets.InvalidToken:
        return adapters.Reading(errors=[{"record": None, "message":
                                         "无法解密认证头：密钥已更换，请重新创建此数据源。"}])
    except Exception as exc:   # a bug must fail the run, not the worker or the request
        log.exception("collection from data source %s failed unexpectedly", source.id)
        return adapters.Reading(errors=[{"record": None, "message": f"内部错误：{type(exc).__name__}。"}])


def run_source(source_id: int, trigger: str, user: User | None = None, plan: Plan | None = None) -> CollectionRun:
    """Read one source now and log the run (committed); its values are stored only if it is ok."""
    source = db.session.get(DataSource, source_id)
    if source is None:
        raise NotFound("数据源不存在")
    db.session.commit()   # end the read transaction: no connection sits idle in one across the network read
    started = utcnow()
    reading = _read(source)
    with write_transaction():
        run = CollectionRun(
            datasource_id=source.id, plan_id=plan.id if plan else None, trigger=trigger,
            triggered_by_id=user.id if user else None, status="ok" if reading.ok else "failed",
            started_at=started, finished_at=utcnow(), records_read=reading.records_read,
            errors=reading.errors or None)
        db.session.add(run)
        db.session.flush()
        db.session.add_all(CollectedValue(run_id=run.id, object_code=v.object_code, value=v.value, raw=v.raw)
                           for v in reading.values)
    run.datasource = source
    return run


def run_now(user: User, source_id: int) -> CollectionRun:
    source = datasources.get_source(user, source_id)
    return run_source(source.id, "manual", user)


def auto_leaves(plan: Plan) -> list[Indicator]:
    return [i for i in plan.indicators if i.method == "auto" and not i.children]


def source_names(plan: Plan) -> list[str]:
    """The data sources a plan's automatic indicators name, in plan order, once each."""
    names = (leaf.source.get("datasource") for leaf in auto_leaves(plan) if leaf.source)
    return list(dict.fromkeys(n for n in names if n))


def collect_plan(user: User, plan_id: int) -> list[CollectionRun]:
    """Run every source the plan's automatic indicators name (each once), and return the runs."""
    datasources.require_manager(user)
    plan = db.session.get(Plan, plan_id)
    if plan is None:
        raise NotFound("考核计划不存在")
    if plan.status != PlanStatus.PUBLISHED:
        raise Conflict("计划尚未发布，不能采集数据")
    names = source_names(plan)
    by_name = {s.name: s.id for s in db.session.scalars(sa.select(DataSource).where(DataSource.name.in_(names)))}
    return [run_source(by_name[name], "manual", user, plan) for name in names if name in by_name]


# ----------------------------------------------------------------------------- the scheduler

def claim_due(now: datetime, limit: int = 50) -> list[int]:
    """Take the sources due at ``now`` and move their ``next_run_at`` on, in the caller's transaction.

    On PostgreSQL the rows are locked ``FOR UPDATE SKIP LOCKED``: a second scheduler skips what the
    first holds and, once it commits, no longer sees them as due. On SQLite the write transaction's
    ``BEGIN IMMEDIATE`` serialises schedulers outright. Either way a source is claimed once per due time.
    """
    query = (sa.select(DataSource)
             .where(DataSource.next_run_at <= now, DataSource.schedule_minutes.is_not(None))
             .order_by(DataSource.next_run_at).limit(limit))
    if is_postgres():
        query = query.with_for_update(skip_locked=True)
    sources = db.session.scalars(query.execution_options(populate_existing=True)).all()
    for source in sources:
        source.next_run_at = now + timedelta(minutes=source.schedule_minutes or 0)
    db.session.flush()
    return [s.id for s in sources]


def sweep(now: datetime | None = None) -> int:
    """Claim due sources (in batches, each claim committed at once) and run them; how many ran."""
    now = now or utcnow()
    ran = 0
    while True:
        with write_transaction():
            claimed = claim_due(now)
        if not claimed:
            return ran
        for source_id in claimed:
            try:
                run_source(source_id, "schedule")
                ran += 1
            except Exception:   # e.g. the database went away: the next source still gets its turn
                log.exception("scheduled collection of data source %s could not be recorded", source_id)


# ----------------------------------------------------------------------------- scores

def _latest_ok_run(*where: sa.ColumnElement[bool]) -> CollectionRun | None:
    """The values in force: those of the last run that finished ok (a failed run stores none)."""
    return db.session.scalar(
        sa.select(CollectionRun).join(DataSource).where(CollectionRun.status == "ok", *where)
        .order_by(CollectionRun.finished_at.desc(), CollectionRun.id.desc()).limit(1))


def latest_values(source: DataSource, limit: int) -> tuple[CollectionRun | None, list[CollectedValue]]:
    run = _latest_ok_run(DataSource.id == source.id)
    if run is None:
        return None, []
    return run, list(db.session.scalars(sa.select(CollectedValue).where(CollectedValue.run_id == run.id)
                                        .order_by(CollectedValue.object_code).limit(limit)))


def _latest_ok(name: str, objects: list[str]) -> tuple[CollectionRun | None, dict[str, CollectedValue]]:
    run = _latest_ok_run(DataSource.name == name)
    if run is None:
        return None, {}
    values = db.session.scalars(sa.select(CollectedValue).where(
        CollectedValue.run_id == run.id, CollectedValue.object_code.in_(objects)))
    return run, {v.object_code: v for v in values}


def collected_scores(plan: Plan) -> tuple[dict[str, dict[str, Decimal]],
                                          dict[tuple[str, str], list[dict[str, Any]]]]:
    """Raw scores of the automatic leaves from the latest ``ok`` run of each one's source, with evidence.

    ``auto``: object code → indicator code → raw score (0–max_score, by ``method.apply_rule``).
    Where there is no value the indicator is left out, so the method treats it as incomplete, and
    the evidence says why.
    """
    objects = [o.unit.code for o in plan.objects]
    auto: dict[str, dict[str, Decimal]] = defaultdict(dict)
    evidence: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    latest: dict[str, tuple[CollectionRun | None, dict[str, CollectedValue]]] = {}

    def missing(obj: str, code: str, name: str | None, reason: str) -> None:
        evidence[(obj, code)].append({"kind": "missing", "datasource": name, "reason": reason})

    for leaf in auto_leaves(plan):
        source = leaf.source or {}
        name = source.get("datasource")
        if not name:
            for obj in objects:
                missing(obj, leaf.code, None, "此自动指标未配置数据来源。")
            continue
        if name not in latest:
            latest[name] = _latest_ok(name, objects)
        run, values = latest[name]
        for obj in objects:
            if run is None:
                missing(obj, leaf.code, name, f"数据源 {name} 尚无成功的采集。")
                continue
            value = values.get(obj)
            if value is None:
                missing(obj, leaf.code, name, f"数据源 {name} 最近一次成功采集（#{run.id}）中没有 {obj} 的数据。")
                continue
            try:
                raw_score = method.apply_rule(source.get("rule") or {}, value.value, leaf.max_score)
            except ValueError as exc:
                missing(obj, leaf.code, name, f"计分规则无效：{exc}")
                continue
            auto[obj][leaf.code] = raw_score
            evidence[(obj, leaf.code)].append({
                "kind": "collection", "datasource": name, "run": run.id,
                "at": run.finished_at.isoformat() if run.finished_at else None, "value": value.raw,
                "score": format(raw_score.quantize(SHOWN, rounding=ROUND_HALF_UP).normalize(), "f")})
    return auto, evidence
