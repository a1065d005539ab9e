"""The scoring round of a published plan (A1.2 task decomposition), BPMN ``plan_scoring``.

Publication of a plan starts its round: one scoring task per evaluator-group member (each scores
all of the plan's objects × manual indicators, for the first group that names them), then the
assessment office publishes the results once every result is complete.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm as so

from app.extensions import db
from app.models import (
    HumanTask,
    Plan,
    ProcessInstance,
    ResultSnapshot,
    Role,
    ScoreEntry,
    TaskStatus,
    Unit,
    User,
    UserRole,
)
from app.models.base import utcnow
from app.services import accounts, appeals, notifications, plan_changes, plans, score_entry, scoring, tasks
from app.services.errors import Conflict, Forbidden, Invalid, NotFound
from app.workdays import END_OF_DAY, SHANGHAI, add_working_days
from app.workflow import hooks, runtime

PROCESS = "plan_scoring"
PUBLISH_TASK = "publish_results"
FINAL_TASK = "publish_final"
MAX_APPEAL_DAYS = 60
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


def open_task(plan: Plan, bpmn_id: str) -> HumanTask | None:
    """The round's open office task (``publish_results`` or ``publish_final``), if it is waiting."""
    if plan.scoring_instance_id is None:
        return None
    return db.session.scalar(sa.select(HumanTask).where(
        HumanTask.instance_id == plan.scoring_instance_id, HumanTask.bpmn_id == bpmn_id,
        HumanTask.status == TaskStatus.OPEN))


def publish_task(plan: Plan) -> HumanTask | None:
    return open_task(plan, PUBLISH_TASK)


def final_task(plan: Plan) -> HumanTask | None:
    return open_task(plan, FINAL_TASK)


def appeal_window_open(plan: Plan, now: datetime | None = None) -> bool:
    """Preliminary results are out and the window's deadline has not passed."""
    now = now or utcnow()
    return (plan.results_stage == "preliminary" and plan.appeal_deadline is not None
            and now <= plan.appeal_deadline)


def _appeal_deadline(payload: dict[str, Any], now: datetime) -> datetime:
    """``appeal_days`` (working days) or ``appeal_deadline`` (a date: its 23:59:59 in Beijing; or a
    date-time with a zone); exactly one, in the future, within a year."""
    days, deadline = payload.get("appeal_days"), payload.get("appeal_deadline")
    if (days in (None, "")) == (deadline in (None, "")):
        raise Invalid("须给出申诉期", {"appeal_days": [
            "appeal_days（工作日数）与 appeal_deadline（截止时间）须且只能给出一个。"]})
    if days not in (None, ""):
        if isinstance(days, bool) or not str(days).strip().isdigit() or not 1 <= int(str(days)) <= MAX_APPEAL_DAYS:
            raise Invalid("申诉期有误", {"appeal_days": [f"须为 1 到 {MAX_APPEAL_DAYS} 之间的整数（工作日）。"]})
        return add_working_days(now, int(str(days)))
    text = str(deadline).strip()
    try:
        if len(text) == 10:
            due = datetime.combine(date.fromisoformat(text), END_OF_DAY, tzinfo=SHANGHAI)
        else:
            due = datetime.fromisoformat(text)
    except ValueError:
        raise Invalid("申诉截止时间有误", {"appeal_deadline": ["须为日期（如 2027-03-31）或带时区的时间。"]}) from None
    if due.tzinfo is None:
        raise Invalid("申诉截止时间有误", {"appeal_deadline": ["时间须带时区，如 2027-03-31T18:00:00+08:00。"]})
    if not now < due <= now + timedelta(days=366):
        raise Invalid("申诉截止时间有误", {"appeal_deadline": ["须在现在之后的一年之内。"]})
    return due.astimezone(UTC)


def _complete_results(plan: Plan) -> scoring.PlanResults:
    computed = scoring.compute(plan)
    incomplete = [r.object for r in computed.results if r.incomplete]
    if incomplete:
        raise Conflict(f"{len(incomplete)} 个考核对象的结果不完整（{'、'.join(incomplete[:5])}），不能发布")
    return computed


def _snapshot(user: User, plan: Plan, stage: str, computed: scoring.PlanResults) -> ResultSnapshot:
    evidence = scoring.evidence_for(computed)
    snapshot = ResultSnapshot(plan_id=plan.id, stage=stage, plan_version=plan.version, published_by_id=user.id,
                              results=[scoring.result_dict(r, evidence) for r in computed.results])
    db.session.add(snapshot)
    return snapshot


def publish_results(user: User, plan_id: int, payload: dict[str, Any] | None = None) -> ResultSnapshot:
    """Publish the results: ``preliminary`` (opens the appeal window) or ``final`` (after it closed
    and every appeal is settled). Each publication is kept as an immutable snapshot."""
    payload = payload or {}
    plan = db.session.get(Plan, plan_id)
    if plan is None:
        raise NotFound("考核计划不存在")
    plan = plans.lock(plan)
    stage = payload.get("stage") or ("final" if plan.results_stage == "preliminary" else "preliminary")
    if stage not in ("preliminary", "final"):
        raise Invalid("发布阶段有误", {"stage": ["须为 preliminary（初步结果）或 final（最终结果）。"]})
    if stage == "preliminary":
        task = publish_task(plan)
        if task is None:
            raise Conflict("评分尚未结束或初步结果已发布，当前不能发布初步结果")
        if plan_changes.pending_change(plan) is not None:
            raise Conflict("此计划有一项指标变更正在审核，审核结束后再发布结果")
        deadline = _appeal_deadline(payload, utcnow())
        snapshot = _snapshot(user, plan, stage, _complete_results(plan))
        plan.appeal_deadline = deadline
        tasks.complete(user, task.id, {"appeal_deadline": deadline.isoformat()}, from_page=True)
        return snapshot
    task = final_task(plan)
    if task is None:
        if appeal_window_open(plan) and plan.appeal_deadline is not None:
            until = plan.appeal_deadline.astimezone(SHANGHAI)
            raise Conflict(f"申诉期至 {until:%Y-%m-%d %H:%M} 止，期满后才能发布最终结果")
        raise Conflict("尚未发布初步结果，或最终结果已发布")
    unsettled = appeals.unsettled(plan)
    if unsettled:
        raise Conflict(f"还有 {unsettled} 项申诉未办结，办结后才能发布最终结果")
    snapshot = _snapshot(user, plan, stage, _complete_results(plan))
    tasks.complete(user, task.id, {}, from_page=True)
    return snapshot


@hooks.on_case_change(PROCESS)
def _follow_round(instance: ProcessInstance) -> None:
    """The BPMN's ``preliminary`` and ``final`` steps open the results to leaders and assessed units."""
    stage = instance.case_status
    if stage not in ("preliminary", "final"):
        return
    plan = db.session.get(Plan, int(str(instance.business_key).split(":", 1)[1]))
    if plan is None or plan.results_stage == stage:
        return
    plan.results_stage, plan.results_published_at = stage, utcnow()
    when = (f"，申诉截止 {plan.appeal_deadline.astimezone(SHANGHAI):%Y-%m-%d %H:%M}"
            if stage == "preliminary" and plan.appeal_deadline else "")
    label = "初步结果" if stage == "preliminary" else "最终结果"
    link = f"/plans/{plan.id}/results"
    invite = "对结果有异议的可在申诉期内提出申诉。" if when else ""
    units = accounts.users_with_role(Role.ASSESSED_UNIT, [o.unit_id for o in plan.objects])
    notifications.notify(units, f"{plan.name}：{label}已发布", f"本单位的{label}已发布{when}。{invite}", link,
                         kind="results")
    notifications.notify(accounts.users_with_role(Role.LEADER), f"{plan.name}：{label}已发布",
                         f"考核{label}已发布{when}。", link, kind="results")


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
