"""The inbox: who sees which task, claim and release, and completing a task in one locked transaction.

Listing, counting and showing tasks read only the ``human_task`` table; no workflow is ever
deserialized for them.
"""
from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm as so

from app.database import is_postgres
from app.extensions import db
from app.formspec import FormSpec, validate_json
from app.models import HumanTask, InstanceStatus, ProcessInstance, TaskStatus, User
from app.models.base import utcnow
from app.services.errors import Conflict, Forbidden, Invalid, NotFound
from app.workflow import runtime

SCOPES = ("mine", "candidate", "done")


@dataclass(frozen=True)
class TaskFilter:
    scope: str = "mine"
    process: str | None = None
    overdue: bool = False
    q: str | None = None
    limit: int = 20
    cursor: str | None = None


@dataclass
class TaskPage:
    items: list[HumanTask]
    next_cursor: str | None


# ----------------------------------------------------------------------------- who may do what

def qualifies(user: User, task: HumanTask) -> bool:
    """The user holds the task's role, belongs to its candidate unit (if it has one) and is not the
    one person the process keeps away from it (``excludeUser``: e.g. an author reviewing their own plan)."""
    return (user.active and task.role in user.roles
            and (task.candidate_unit_id is None or task.candidate_unit_id == user.unit_id)
            and task.excluded_user_id != user.id)


def holds(user: User, task: HumanTask) -> bool:
    """Holding a claim lasts only while the user still qualifies; a task the process assigned to
    them (pinned) stays theirs."""
    return task.assignee_id == user.id and (task.pinned or qualifies(user, task))


def may_see(user: User, task: HumanTask) -> bool:
    return (user.is_admin or task.assignee_id == user.id or task.completed_by_id == user.id
            or qualifies(user, task))


def may_act(user: User, task: HumanTask) -> bool:
    """Open, and either held by the user or unheld and the user qualifies."""
    if task.status != TaskStatus.OPEN:
        return False
    if task.assignee_id is not None:
        return holds(user, task)
    return qualifies(user, task)


def _holder_name(task: HumanTask) -> str:
    return task.assignee.name if task.assignee else "他人"


# ----------------------------------------------------------------------------- listing

def _encode_cursor(values: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


def _decode_cursor(cursor: str, scope: str) -> dict[str, Any]:
    """A cursor from this scope's previous page: ``{"id"}``, plus an aware ``"at"`` for 已办."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded))
        if not isinstance(values, dict) or not isinstance(values.get("id"), int):
            raise ValueError
        if scope == "done":
            at = datetime.fromisoformat(values["at"]) if isinstance(values.get("at"), str) else None
            if at is None or at.tzinfo is None:
                raise ValueError
            values["at"] = at
        return values
    except (ValueError, KeyError, TypeError):
        raise Invalid("无效的分页游标", {"cursor": ["无效的分页游标，请从第一页重新浏览。"]}) from None


def _common_filters(query: sa.Select[Any], f: TaskFilter, now: datetime) -> sa.Select[Any]:
    if f.process:
        query = query.where(HumanTask.process_id == f.process)
    if f.overdue:
        query = query.where(HumanTask.due_at < now)
    if f.q:
        pattern = "%" + f.q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(sa.or_(HumanTask.name.ilike(pattern, escape="\\"),
                                   HumanTask.title.ilike(pattern, escape="\\")))
    return query


def _candidate_ids(user: User, f: TaskFilter, after: int | None, limit: int, now: datetime) -> sa.CompoundSelect[Any]:
    """Ids of open tasks the user may claim or complete, newest first.

    One small index range scan per (role, unit scope) — a UNION of branches instead of one OR
    query — so the cost follows the page size, not the number of open tasks. The branches'
    ``IS NULL`` terms match the partial indexes ``ix_human_task_pool_*`` exactly.
    """
    branches = []
    base = sa.select(HumanTask.id).where(HumanTask.status == TaskStatus.OPEN)
    for role in sorted(user.roles):
        scopes: list[sa.ColumnElement[bool]] = [HumanTask.candidate_unit_id.is_(None)]
        if user.unit_id is not None:
            scopes.append(HumanTask.candidate_unit_id == user.unit_id)
        for scope in scopes:
            branches.append(base.where(HumanTask.role == role, scope, HumanTask.assignee_id.is_(None),
                                       sa.or_(HumanTask.excluded_user_id.is_(None),
                                              HumanTask.excluded_user_id != user.id)))
    branches.append(base.where(HumanTask.assignee_id == user.id))
    parts = []
    for branch in branches:
        branch = _common_filters(branch, f, now)
        if after is not None:
            branch = branch.where(HumanTask.id < after)
        parts.append(sa.select(branch.order_by(HumanTask.id.desc()).limit(limit).subquery().c.id))
    return sa.union_all(*parts)


def list_tasks(user: User, f: TaskFilter) -> TaskPage:
    if f.scope not in SCOPES:
        raise Invalid("未知的范围", {"scope": [f"须为 {', '.join(SCOPES)} 之一。"]})
    limit = max(1, min(f.limit, 100))
    now = utcnow()
    cursor = _decode_cursor(f.cursor, f.scope) if f.cursor else None
    after = cursor["id"] if cursor else None
    # Rows are shown with their holder, unit and completer: joined in the same statement (and
    # nothing more of those users), so a page is one query whatever its size.
    query = sa.select(HumanTask).options(
        so.joinedload(HumanTask.assignee).lazyload("*"), so.joinedload(HumanTask.completed_by).lazyload("*"),
        so.joinedload(HumanTask.candidate_unit))
    if f.scope == "candidate":
        # Cap the union to one page before joining back, so the join touches limit + 1 rows.
        union = _candidate_ids(user, f, after, limit + 1, now).subquery()
        page_ids = sa.select(union.c.id).order_by(union.c.id.desc()).limit(limit + 1)
        query = query.where(HumanTask.id.in_(page_ids)).order_by(HumanTask.id.desc())
    elif f.scope == "mine":
        query = _common_filters(query.where(HumanTask.assignee_id == user.id,
                                            HumanTask.status == TaskStatus.OPEN), f, now)
        if after is not None:
            query = query.where(HumanTask.id < after)
        query = query.order_by(HumanTask.id.desc())
    else:
        query = _common_filters(query.where(HumanTask.completed_by_id == user.id), f, now)
        if cursor:
            at = cursor["at"]
            query = query.where(sa.or_(HumanTask.completed_at < at,
                                       sa.and_(HumanTask.completed_at == at, HumanTask.id < cursor["id"])))
        query = query.order_by(HumanTask.completed_at.desc(), HumanTask.id.desc())
    rows = list(db.session.scalars(query.limit(limit + 1)))
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        values: dict[str, Any] = {"id": last.id}
        if f.scope == "done" and last.completed_at:
            values["at"] = last.completed_at.isoformat()
        next_cursor = _encode_cursor(values)
    return TaskPage(rows, next_cursor)


def count_tasks(user: User, scope: str, cap: int = 100) -> int:
    """Badge counts, capped so a busy group inbox never costs a full count (the page shows 99+)."""
    ids: sa.Select[Any] | sa.CompoundSelect[Any]
    if scope == "candidate":
        ids = _candidate_ids(user, TaskFilter(scope=scope), None, cap, utcnow())
    elif scope == "mine":
        ids = sa.select(HumanTask.id).where(HumanTask.assignee_id == user.id,
                                            HumanTask.status == TaskStatus.OPEN).limit(cap)
    else:
        raise Invalid("未知的范围", {"scope": ["只统计 mine 与 candidate。"]})
    count = db.session.scalar(sa.select(sa.func.count()).select_from(ids.subquery())) or 0
    return min(int(count), cap)


def get_task(user: User, task_id: int) -> HumanTask:
    task = db.session.get(HumanTask, task_id)
    if task is None:
        raise NotFound("任务不存在")
    if not may_see(user, task):
        raise Forbidden("无权查看此任务")
    return task


def form_spec(task: HumanTask) -> FormSpec:
    """The form as it was when the task's instance started (forms are part of a spec version)."""
    spec = runtime.form_for(task.instance, task.form_key)
    if spec is None:
        raise NotFound(f"表单 {task.form_key} 不存在")
    return spec


# ----------------------------------------------------------------------------- changing tasks

def _lock(task_id: int) -> tuple[HumanTask, ProcessInstance]:
    """Lock the task's instance row (with its spec version), then re-read the task.

    Two statements on purpose: on PostgreSQL a statement that waited for the lock sees the locked
    row's newest version but other joined rows as of its start, so the task must be read after the
    lock is held to see a concurrent completion. On SQLite the write transaction holds the lock.
    """
    owner = sa.select(HumanTask.instance_id).where(HumanTask.id == task_id).scalar_subquery()
    query = (sa.select(ProcessInstance).where(ProcessInstance.id == owner)
             .options(so.joinedload(ProcessInstance.spec, innerjoin=True))
             .execution_options(populate_existing=True))
    if is_postgres():
        query = query.with_for_update(of=ProcessInstance)
    instance = db.session.execute(query).scalar_one_or_none()
    if instance is None:
        raise NotFound("任务不存在")
    task = db.session.execute(
        sa.select(HumanTask).where(HumanTask.id == task_id).execution_options(populate_existing=True)
    ).scalar_one()
    return task, instance


def _check_may_act(user: User, task: HumanTask) -> None:
    if not (qualifies(user, task) or holds(user, task) or task.completed_by_id == user.id):
        raise Forbidden("您无权处理此任务")
    if task.status == TaskStatus.COMPLETED:
        who = task.completed_by.name if task.completed_by else "他人"
        raise Conflict(f"此任务已由 {who} 于 {task.completed_at:%Y-%m-%d %H:%M} 完成", {"completed_by": [who]})
    if task.status != TaskStatus.OPEN:
        raise Conflict("此任务已撤销")
    if task.assignee_id is not None and task.assignee_id != user.id:
        raise Conflict(f"此任务已由 {_holder_name(task)} 认领", {"assignee": [_holder_name(task)]})


def claim(user: User, task_id: int) -> HumanTask:
    task, instance = _lock(task_id)
    _check_may_act(user, task)
    if task.assignee_id != user.id:
        task.assignee = user
        task.claimed_at = utcnow()
        runtime.log_event(instance, "claimed", user=user, task=task)
    db.session.flush()
    return task


def unclaim(user: User, task_id: int) -> HumanTask:
    task, instance = _lock(task_id)
    if task.assignee_id is None:
        if not user.is_admin:
            raise Forbidden("此任务无人认领；只有认领人或管理员可以释放任务")
        return task
    if task.assignee_id != user.id and not user.is_admin:
        raise Forbidden("只有认领人或管理员可以释放此任务")
    if task.pinned and not user.is_admin:
        raise Conflict(f"此任务由流程指派给 {_holder_name(task)}，不能释放；如需转办请联系管理员")
    if task.status != TaskStatus.OPEN:
        raise Conflict("此任务已结束")
    task.assignee = None
    task.claimed_at = None
    runtime.log_event(instance, "released", user=user, task=task)
    db.session.flush()
    return task


def complete(user: User, task_id: int, data: dict[str, Any], *, from_page: bool = False) -> ProcessInstance:
    """Validate, run and record one completion; the caller commits (one transaction).

    A task whose form names a page (the score-entry grid, say) is completed by that page's service
    (``from_page``), never through the generic form, which could not check what the page checks.
    """
    task, instance = _lock(task_id)
    _check_may_act(user, task)
    if instance.status != InstanceStatus.RUNNING:
        raise Conflict("流程已结束，不能再办理此任务")
    spec = form_spec(task)
    if spec.page and not from_page:
        raise Conflict(f"“{task.name}”须在其办理页面完成")
    cleaned, errors = validate_json(spec, data if isinstance(data, dict) else {})
    if errors:
        raise Invalid("表单填写有误", errors)
    if task.assignee_id is None:  # completing an unclaimed task claims it implicitly
        task.assignee = user
        task.claimed_at = utcnow()
    try:
        runtime.complete(instance, task, user, cleaned)
    except runtime.ProcessError as exc:
        raise Conflict(f"流程无法继续：{exc}") from exc
    return instance


def release_lapsed_claims(user: User, actor: User | None = None) -> int:
    """After a user's roles, unit or status change: give back the claims they no longer qualify for
    (tasks the process assigned to them stay theirs until an admin releases them).

    Each release is a guarded UPDATE (still open, still theirs), so a completion that commits
    first wins and is never overwritten.
    """
    held = list(db.session.scalars(sa.select(HumanTask).where(
        HumanTask.assignee_id == user.id, HumanTask.status == TaskStatus.OPEN, HumanTask.pinned.is_(False))))
    released = 0
    for task in held:
        if qualifies(user, task):
            continue
        result = db.session.execute(
            sa.update(HumanTask)
            .where(HumanTask.id == task.id, HumanTask.status == TaskStatus.OPEN, HumanTask.assignee_id == user.id)
            .values(assignee_id=None, claimed_at=None).execution_options(synchronize_session=False))
        if result.rowcount == 1:  # type: ignore[attr-defined]
            runtime.log_event(task.instance, "released", user=actor, task=task,
                              comment=f"{user.name} 的角色或单位已变更，认领自动释放")
            released += 1
    db.session.flush()
    return released
