"""The scoring round of a published plan (A1.2 task decomposition), BPMN ``plan_scoring``.

Publication of a plan starts its round: one scoring task per evaluator-group member (each scores
all of the plan's objects × manual indicators, for the first group that names them), then the
assessment office publishes the results once every result is complete.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import sqlalchemy as sa
import sqlalchemy.orm as so

from app.extensions import db
from app.models import HumanTask, Plan, ProcessInstance, Role, ScoreEntry, TaskStatus, Unit, User, UserRole
from app.models.base import utcnow
from app.services import plan_changes, score_entry, scoring, tasks
from app.services.errors import Conflict, Forbidden, NotFound
from app.workflow import hooks, runtime

PROCESS = "plan_scoring"
PUBLISH_TASK = "publish_results"
SCORE_DAYS = 10   # working days an evaluator has for their scoring task


def members(plan: Plan) -> list[User]:
    """Active users whose first matching evaluator group is one of the plan's, in group order."""
    refs: dict[str, set[str]] = {"role": set(), "unit": set(), "username": set()}
    for group in plan.evaluators:
        refs[group.kind].add(group.ref)
    query = (sa.select(User).where(User.active, sa.or_(
        User.username.in_(refs["username"]),
        User.unit_id.in_(sa.select(Unit.id).where(Unit.code.in_(refs["unit"]))),
        User.id.in_(sa.select(UserRole.user_id).where(UserRole.role.in_(refs["role"]))),
    )).options(so.selectinload(User.role_rows)).order_by(User.id))
    order = {g.id: g.position for g in plan.evaluators}
    found = []
    for user in db.session.scalars(query):
        first = score_entry.group_of(plan, user)
        if first is not None:
            found.append((order[first.id], user.id, user))
    return [user for _, _, user in sorted(found, key=lambda f: (f[0], f[1]))]


def start_round(plan_id: int) -> ProcessInstance:
    """Start the plan's scoring round (called once, when the plan is published)."""
    plan = db.session.get(Plan, plan_id)
    if plan is None:
        raise NotFound("考核计划不存在")
    evaluators = [u.username for u in members(plan)] if score_entry.manual_leaves(plan) else []
    instance = runtime.start(
        PROCESS, business_key=f"{PROCESS}:{plan.id}", title=plan.name, user=None,
        data={"plan_id": plan.id, "plan_name": plan.name, "evaluators": evaluators, "score_days": SCORE_DAYS},
    )
    plan.scoring_instance_id = instance.id
    return instance


def plan_of_task(task: HumanTask) -> int:
    key = task.instance.business_key or ""
    if not key.startswith(f"{PROCESS}:"):
        raise NotFound("此任务不属于考核评分")
    return int(key.split(":", 1)[1])


def publish_task(plan: Plan) -> HumanTask | None:
    if plan.scoring_instance_id is None:
        return None
    return db.session.scalar(sa.select(HumanTask).where(
        HumanTask.instance_id == plan.scoring_instance_id, HumanTask.bpmn_id == PUBLISH_TASK,
        HumanTask.status == TaskStatus.OPEN))


def publish_results(user: User, plan_id: int) -> scoring.PlanResults:
    """Complete the office's publication task; refused while any object's result is incomplete."""
    plan = db.session.get(Plan, plan_id)
    if plan is None:
        raise NotFound("考核计划不存在")
    task = publish_task(plan)
    if task is None:
        raise Conflict("评分尚未结束或结果已发布，当前不能发布结果")
    if plan_changes.pending_change(plan) is not None:
        raise Conflict("此计划有一项指标变更正在审核，审核结束后再发布结果")
    computed = scoring.compute(plan)
    incomplete = [r.object for r in computed.results if r.incomplete]
    if incomplete:
        raise Conflict(f"{len(incomplete)} 个考核对象的结果不完整（{'、'.join(incomplete[:5])}），不能发布")
    tasks.complete(user, task.id, {}, from_page=True)
    return computed


@hooks.on_case_change(PROCESS)
def _follow_round(instance: ProcessInstance) -> None:
    """``results_published`` (the BPMN's last step) opens the results to leaders and assessed units."""
    if instance.case_status != "results_published":
        return
    plan_id = int(str(instance.business_key).split(":", 1)[1])
    table = cast(sa.Table, Plan.__table__)
    now: datetime = utcnow()
    values: dict[str, Any] = {"results_stage": "final", "results_published_at": now, "updated_at": now}
    db.session.execute(sa.update(table).where(table.c.id == plan_id, table.c.results_stage.is_(None))
                       .values(**values))


def plan_for_publication(user: User, plan_id: int) -> Plan:
    """The publication page is the office's: assessment managers and admins."""
    plan = db.session.get(Plan, plan_id)
    if plan is None:
        raise NotFound("考核计划不存在")
    if not user.has_role(Role.ASSESSMENT_MANAGER, Role.ADMIN):
        raise Forbidden("只有考核管理员可以发布考核结果")
    return plan


@dataclass
class EvaluatorProgress:
    user: User
    submitted: int
    drafts: int
    done: bool      # their scoring task is completed


def progress(plan: Plan) -> list[EvaluatorProgress]:
    """Each evaluator's submitted and draft cells, for the office to see who is still scoring."""
    if plan.scoring_instance_id is None:
        return []
    rows = db.session.scalars(sa.select(HumanTask).where(
        HumanTask.instance_id == plan.scoring_instance_id, HumanTask.bpmn_id == score_entry.SCORE_TASK,
        HumanTask.status.in_((TaskStatus.OPEN, TaskStatus.COMPLETED))).order_by(HumanTask.id)).all()
    counts: dict[tuple[int, bool], int] = {
        (evaluator, bool(submitted)): n for evaluator, submitted, n in db.session.execute(
            sa.select(ScoreEntry.evaluator_id, ScoreEntry.submitted, sa.func.count())
            .where(ScoreEntry.plan_id == plan.id).group_by(ScoreEntry.evaluator_id, ScoreEntry.submitted))}
    return [EvaluatorProgress(row.assignee, counts.get((row.assignee_id, True), 0),
                              counts.get((row.assignee_id, False), 0), row.status == TaskStatus.COMPLETED)
            for row in rows if row.assignee is not None and row.assignee_id is not None]
