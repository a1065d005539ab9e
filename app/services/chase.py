"""催办: overdue tasks are chased, then escalated to leaders; managers may also chase by hand.

A task is overdue when its deadline passes: the deadline a BPMN user task declares (``dueWorkingDays``
/ ``dueDate``: the ``due_at`` column, swept by the scheduler through a partial index), or a
boundary timer the process draws on it (``event`` = ``overdue`` / ``escalated``, fired by the
engine). Either way the same guarded update marks the task, so a task is chased and escalated
exactly once, however many schedulers run and whichever fires first. A task whose process draws
its own escalation timer is escalated by that timer alone, not by the sweep's fixed delay.
"""
from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import cast

import sqlalchemy as sa
from flask import current_app

from app.extensions import db
from app.models import HumanTask, ProcessInstance, Role, TaskStatus, User
from app.models.base import utcnow
from app.services import accounts, instances, notifications
from app.services.errors import Conflict, Forbidden, NotFound
from app.workdays import SHANGHAI
from app.workflow import hooks, runtime

CHASERS = (Role.ADMIN, Role.ASSESSMENT_MANAGER)
SWEEP_LIMIT = 200


def _task_link(task: HumanTask) -> str:
    return notifications.link("inbox.task", f"/tasks/{task.id}", task_id=task.id)


def recipients(task: HumanTask) -> list[User]:
    """Who should act: the holder, or everyone who may take it (role, unit, not the excluded user)."""
    if task.assignee_id is not None:
        user = db.session.get(User, task.assignee_id)
        return [user] if user is not None and user.active else []
    units = None if task.candidate_unit_id is None else [task.candidate_unit_id]
    return [u for u in accounts.users_with_role(task.role, units) if u.id != task.excluded_user_id]


def _mark(task_id: int, field: str, now: datetime) -> bool:
    """Set ``field`` once: only on an open task where it is still empty; the loser of a race changes nothing."""
    table = cast(sa.Table, HumanTask.__table__)
    result = db.session.execute(
        sa.update(table).where(table.c.id == task_id, table.c.status == TaskStatus.OPEN, table.c[field].is_(None))
        .values({field: now}))
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def mark_overdue(task: HumanTask, now: datetime | None = None) -> bool:
    now = now or utcnow()
    if not _mark(task.id, "chased_at", now):
        return False
    instance = db.session.get(ProcessInstance, task.instance_id)
    assert instance is not None
    due = f"（期限 {task.due_at.astimezone(SHANGHAI):%Y-%m-%d %H:%M}）" if task.due_at else ""
    runtime.log_event(instance, "overdue", task=task, comment=f"“{task.name}”已逾期{due}，已催办")
    notifications.notify(recipients(task), f"逾期催办：{task.name}",
                         f"{task.title}：“{task.name}”已超过办理期限{due}，请尽快办理。", _task_link(task),
                         kind="overdue")
    return True


def mark_escalated(task: HumanTask, now: datetime | None = None) -> bool:
    now = now or utcnow()
    if not _mark(task.id, "escalated_at", now):
        return False
    instance = db.session.get(ProcessInstance, task.instance_id)
    assert instance is not None
    runtime.log_event(instance, "escalated", task=task, comment=f"“{task.name}”逾期未办，已报告领导")
    holders = "、".join(u.name for u in recipients(task)) or "无人可办"
    notifications.notify(accounts.users_with_role(Role.LEADER), f"逾期督办：{task.name}",
                         f"{task.title}：“{task.name}”逾期仍未办理（办理人：{holders}）。", _task_link(task),
                         kind="escalated")
    return True


def chase_by_hand(user: User, task_id: int, comment: str = "") -> HumanTask:
    """A manager chases an open task: an event in its history and a notification to whoever should act."""
    if not user.has_role(*CHASERS):
        raise Forbidden("只有考核管理员和系统管理员可以催办")
    task = db.session.get(HumanTask, task_id)
    if task is None:
        raise NotFound("任务不存在")
    instance = db.session.get(ProcessInstance, task.instance_id)
    assert instance is not None
    if not instances.involved(user, instance, [task]):
        raise Forbidden("无权查看此流程")
    if task.status != TaskStatus.OPEN:
        raise Conflict("任务已办结，无需催办")
    comment = (comment or "").strip()[:500]
    runtime.log_event(instance, "chased", user=user, task=task, comment=comment or f"{user.name} 催办")
    notifications.notify(recipients(task), f"催办：{task.name}",
                         f"{user.name} 催办“{task.title}”中的“{task.name}”。{comment}", _task_link(task),
                         kind="chased")
    db.session.flush()
    return task


# ----------------------------------------------------------------------------- the sweep

def overdue_ids(now: datetime, limit: int = SWEEP_LIMIT) -> list[int]:
    """Open tasks past their deadline and not yet chased (the partial index ``ix_human_task_chase``)."""
    return list(db.session.scalars(sa.select(HumanTask.id).where(
        HumanTask.status == TaskStatus.OPEN, HumanTask.chased_at.is_(None), HumanTask.due_at.is_not(None),
        HumanTask.due_at <= now).order_by(HumanTask.due_at).limit(limit)))


def _escalated_by_timer() -> list[tuple[str, str]]:
    """(process, user task) pairs whose BPMN draws its own escalation timer on the task."""
    return [(pid, info.bpmn_id) for pid, loaded in runtime.registry().current.items()
            for info in loaded.user_tasks.values() if "escalated" in info.events]


def escalation_ids(now: datetime, limit: int = SWEEP_LIMIT) -> list[int]:
    """Chased tasks still open after CHASE_ESCALATE_AFTER_HOURS, except those whose process
    escalates them with its own timer (e.g. some working days after a notice's deadline)."""
    after = timedelta(hours=float(current_app.config["CHASE_ESCALATE_AFTER_HOURS"]))
    query = sa.select(HumanTask.id).where(
        HumanTask.status == TaskStatus.OPEN, HumanTask.escalated_at.is_(None), HumanTask.chased_at.is_not(None),
        HumanTask.chased_at <= now - after)
    if own := _escalated_by_timer():
        query = query.where(sa.not_(sa.or_(*(sa.and_(HumanTask.process_id == pid, HumanTask.bpmn_id == bpmn_id)
                                             for pid, bpmn_id in own))))
    return list(db.session.scalars(query.order_by(HumanTask.chased_at).limit(limit)))


def chase_one(task_id: int, now: datetime, escalate: bool = False) -> bool:
    task = db.session.get(HumanTask, task_id)
    if task is None:
        return False
    return mark_escalated(task, now) if escalate else mark_overdue(task, now)


@hooks.on_timer_event
def _bpmn_deadline(instance: ProcessInstance, event: str, task_bpmn_id: str | None) -> None:
    """A boundary timer drawn on a user task fired: chase (``overdue``) or escalate (``escalated``) it."""
    if event not in ("overdue", "escalated") or task_bpmn_id is None:
        return
    rows: Iterable[HumanTask] = db.session.scalars(sa.select(HumanTask).where(
        HumanTask.instance_id == instance.id, HumanTask.bpmn_id == task_bpmn_id,
        HumanTask.status == TaskStatus.OPEN))
    for task in list(rows):
        if event == "overdue":
            mark_overdue(task)
        else:
            mark_overdue(task)          # escalation implies the task was overdue
            mark_escalated(task)
