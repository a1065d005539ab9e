"""Appeals and re-evaluation (绩效申诉与复评, A2.7), BPMN ``appeal``.

An assessed unit appeals one manual indicator's preliminary score, within the appeal window, with its
reason and evidence files. The office accepts or rejects it (with reasons); on acceptance the
evaluators who scored that object × indicator re-evaluate it, the office confirms, and only then are
their scores replaced — the one way scores change once results are published. The unit is told at
every decision, and the score's evidence shows the appeal and each re-evaluation.
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import current_app
from werkzeug.datastructures import FileStorage

from app.extensions import db
from app.i18n import N_
from app.models import (
    Appeal,
    AppealFile,
    HumanTask,
    Plan,
    ProcessInstance,
    Reevaluation,
    Role,
    ScoreEntry,
    User,
)
from app.models.base import utcnow
from app.services import accounts, notifications, scoring
from app.services.errors import Conflict, Forbidden, Invalid, NotFound
from app.workdays import SHANGHAI
from app.workflow import hooks, runtime

PROCESS = "appeal"
OPEN_STATUSES = ("pending", "accepted")
STATUS_LABELS = {"pending": N_("待受理"), "accepted": N_("复评中"), "rejected": N_("不予受理"),
                 "resolved": N_("已办结")}
OFFICE = (Role.ADMIN, Role.ASSESSMENT_MANAGER, Role.REVIEWER)
MAX_FILES = 5
MAX_FILE_BYTES = 10 * 1024 * 1024
FILE_TYPES = {".pdf", ".jpg", ".jpeg", ".png", ".doc", ".docx", ".xls", ".xlsx", ".zip", ".txt"}


def unsettled(plan: Plan) -> int:
    return int(db.session.scalar(sa.select(sa.func.count()).select_from(Appeal).where(
        Appeal.plan_id == plan.id, Appeal.status.in_(OPEN_STATUSES))) or 0)


# ----------------------------------------------------------------------------- filing

def _files_dir() -> Path:
    return Path(current_app.instance_path) / "appeals"


def _check_files(files: Iterable[FileStorage]) -> list[tuple[str, bytes, str]]:
    kept = [f for f in files if f and f.filename]
    if len(kept) > MAX_FILES:
        raise Invalid("附件过多", {"files": [f"最多 {MAX_FILES} 个附件。"]})
    checked = []
    for upload in kept:
        name = upload.filename or "file"
        suffix = Path(name).suffix.lower()
        if suffix not in FILE_TYPES:
            raise Invalid("附件类型不支持", {"files": [f"{name}：只接受 {'、'.join(sorted(FILE_TYPES))} 文件。"]})
        data = upload.read(MAX_FILE_BYTES + 1)
        if len(data) > MAX_FILE_BYTES:
            raise Invalid("附件过大", {"files": [f"{name}：单个附件不能超过 10 MB。"]})
        if not data:
            raise Invalid("附件为空", {"files": [f"{name}：文件是空的。"]})
        checked.append((name, data, upload.mimetype or "application/octet-stream"))
    return checked


def _display_name(name: str) -> str:
    """The uploaded name as people wrote it (Chinese kept), without any path or control characters;
    it is only ever shown and offered as a download name, never used as a path."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    clean = "".join(c for c in base if c.isprintable()).strip()
    return clean[-200:] or "file"


def _store(data: bytes) -> str:
    """Files are immutable and named by their SHA-256 (the same file uploaded twice is stored once)."""
    digest = hashlib.sha256(data).hexdigest()
    path = _files_dir() / digest
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".part")
        tmp.write_bytes(data)
        tmp.replace(path)
    return digest


def _unit_users(appeal: Appeal) -> list[User]:
    return [appeal.filed_by, *accounts.users_with_role(Role.ASSESSED_UNIT, [appeal.object_id])]


def file_appeal(user: User, payload: Any, files: Iterable[FileStorage] = ()) -> Appeal:
    """``{plan, object, indicator, reason}``: 403 for another unit's object; 422 outside the window."""
    from app.services import scoring_round  # it builds on this module

    if not isinstance(payload, dict):
        raise Invalid("请求格式错误", {"body": ["须为 JSON 对象。"]})
    try:
        plan = db.session.get(Plan, int(str(payload.get("plan"))))
    except ValueError:
        plan = None
    if plan is None:
        raise Invalid("考核计划不存在", {"plan": [f"没有编号为 {payload.get('plan')} 的考核计划。"]})
    unit = next((o.unit for o in plan.objects if o.unit.code == str(payload.get("object"))), None)
    if unit is None:
        raise Invalid("考核对象不在计划中", {"object": [f"计划中没有考核对象 {payload.get('object')}。"]})
    if not (user.has_role(Role.ASSESSED_UNIT) and user.unit_id == unit.id):
        raise Forbidden("只能对本单位的考核结果提出申诉")
    indicator = next((i for i in plan.indicators if i.code == str(payload.get("indicator"))), None)
    if indicator is None:
        raise Invalid("指标不存在", {"indicator": [f"计划中没有指标 {payload.get('indicator')}。"]})
    if indicator.children or indicator.method != "manual":
        raise Invalid("只能对手工评分的末级指标申诉", {"indicator": [
            f"{indicator.name} 不是手工评分的末级指标；对汇总得分有异议请对其下级指标申诉，"
            "对自动采集的得分有异议请联系考核办核对数据。"]})
    reason = payload.get("reason")
    reason = reason.strip() if isinstance(reason, str) else ""
    if not reason:
        raise Invalid("须说明申诉理由", {"reason": ["须说明申诉理由。"]})
    if len(reason) > 4000:
        raise Invalid("申诉理由过长", {"reason": ["最多 4000 个字符。"]})
    if not scoring_round.appeal_window_open(plan):
        closed = (f"申诉期已于 {plan.appeal_deadline.astimezone(SHANGHAI):%Y-%m-%d %H:%M} 届满"
                  if plan.appeal_deadline else "初步结果尚未发布")
        raise Invalid("不在申诉期内", {"plan": [f"{closed}，不能提出申诉。"]})
    duplicate = db.session.scalar(sa.select(Appeal.id).where(
        Appeal.plan_id == plan.id, Appeal.object_id == unit.id, Appeal.indicator_id == indicator.id,
        Appeal.status.in_(OPEN_STATUSES)))
    if duplicate is not None:
        raise Conflict(f"对此指标的申诉（第 {duplicate} 号）尚未办结")
    checked = _check_files(files)
    computed = scoring.compute(plan)
    before = next((s for r in computed.results if r.object == unit.code for s in _flat(r.indicators)
                   if s.code == indicator.code), None)
    appeal = Appeal(plan_id=plan.id, object_id=unit.id, indicator_id=indicator.id, filed_by=user, reason=reason,
                    status="pending", score_before=scoring.shown(before.score) if before else None)
    for name, data, content_type in checked:
        appeal.files.append(AppealFile(filename=_display_name(name), sha256=_store(data), size=len(data),
                                       content_type=content_type))
    db.session.add(appeal)
    db.session.flush()
    reevaluators = list(db.session.scalars(
        sa.select(User.username).join(ScoreEntry, ScoreEntry.evaluator_id == User.id).where(
            ScoreEntry.plan_id == plan.id, ScoreEntry.object_id == unit.id, ScoreEntry.indicator_id == indicator.id,
            ScoreEntry.submitted).order_by(ScoreEntry.id)))
    instance = runtime.start(PROCESS, business_key=f"{PROCESS}:{appeal.id}",
                             title=f"{plan.name}：{unit.name}对“{indicator.name}”的申诉", user=user,
                             data={"appeal_id": appeal.id, "plan_id": plan.id, "unit": unit.code,
                                   "filer": user.username, "reevaluators": reevaluators})
    appeal.instance_id = instance.id
    notifications.notify(accounts.users_with_role(Role.ASSESSMENT_MANAGER), f"收到申诉：{unit.name}",
                         f"{plan.name}：{unit.name}对“{indicator.name}”提出申诉。",
                         f"/appeals/{appeal.id}", kind="appeal")
    db.session.flush()
    return appeal


def _flat(scores: list[Any]) -> Iterable[Any]:
    for s in scores:
        yield s
        yield from _flat(s.children)


# ----------------------------------------------------------------------------- handling

@hooks.on_task_completing(PROCESS)
def _record(instance: ProcessInstance, task: HumanTask, data: dict[str, Any]) -> None:
    """The office's decision comment, and each evaluator's re-evaluated score, as they are given."""
    appeal = db.session.get(Appeal, int(str(instance.business_key).split(":", 1)[1]))
    if appeal is None:
        return
    if task.bpmn_id == "review_appeal":
        appeal.decision_comment = str(data.get("comment") or "") or None
    elif task.bpmn_id == "reevaluate":
        evaluator = task.assignee
        if evaluator is None:
            raise runtime.ProcessError(f"re-evaluation task {task.id} has no evaluator")
        try:
            score = Decimal(str(data.get("score")))
        except InvalidOperation:
            raise Invalid("复评分数须为数字", {"score": ["须为数字。"]}) from None
        maximum = appeal.indicator.max_score
        if not score.is_finite() or not Decimal(0) <= score <= maximum:
            raise Invalid("复评分数超出范围", {"score": [f"须在 0 到 {format(maximum.normalize(), 'f')} 之间。"]})
        if score.as_tuple().exponent < -3:  # type: ignore[operator]
            raise Invalid("复评分数最多三位小数", {"score": ["最多保留三位小数。"]})
        entry = _entry(appeal, evaluator)
        appeal.reevaluations.append(Reevaluation(evaluator=evaluator, old_score=entry.score if entry else None,
                                                 score=score, comment=str(data.get("comment") or "")))


def _entry(appeal: Appeal, evaluator: User) -> ScoreEntry | None:
    return db.session.scalar(sa.select(ScoreEntry).where(
        ScoreEntry.plan_id == appeal.plan_id, ScoreEntry.object_id == appeal.object_id,
        ScoreEntry.indicator_id == appeal.indicator_id, ScoreEntry.evaluator_id == evaluator.id))


def _apply(appeal: Appeal) -> None:
    """Replace each re-evaluating evaluator's score with their latest re-evaluation."""
    latest: dict[int, Reevaluation] = {}
    for row in appeal.reevaluations:
        latest[row.evaluator_id] = row
    for row in latest.values():
        entry = _entry(appeal, row.evaluator)
        if entry is not None:
            entry.score, entry.detail = row.score, {"reevaluated": appeal.id}
    db.session.flush()
    computed = scoring.compute(appeal.plan)
    after = next((s for r in computed.results if r.object == appeal.object.code for s in _flat(r.indicators)
                  if s.code == appeal.indicator.code), None)
    appeal.score_after = scoring.shown(after.score) if after else None


@hooks.on_case_change(PROCESS)
def _follow(instance: ProcessInstance) -> None:
    appeal = db.session.get(Appeal, int(str(instance.business_key).split(":", 1)[1]))
    status = instance.case_status
    if appeal is None or status not in ("accepted", "rejected", "resolved") or appeal.status == status:
        return
    now = utcnow()
    if status == "rejected":
        appeal.status, appeal.decided_at = status, now
        message = f"不予受理。理由：{appeal.decision_comment or '（未说明）'}"
    elif status == "accepted":
        appeal.status, appeal.decided_at = status, now
        message = "已受理，正在组织复评。"
    else:
        _apply(appeal)
        appeal.status, appeal.resolved_at = status, now
        message = f"复评已完成，该指标得分由 {appeal.score_before or '—'} 调整为 {appeal.score_after or '—'}。"
    notifications.notify(_unit_users(appeal), f"申诉{STATUS_LABELS[status]}：{appeal.indicator.name}",
                         f"您对“{appeal.indicator.name}”的申诉{message}", f"/appeals/{appeal.id}", kind="appeal")


# ----------------------------------------------------------------------------- reading

def may_see(user: User, appeal: Appeal) -> bool:
    """The office, the unit that filed it, and the evaluators asked to re-evaluate it."""
    if (user.has_role(*OFFICE) or appeal.filed_by_id == user.id
            or (user.has_role(Role.ASSESSED_UNIT) and user.unit_id == appeal.object_id)):
        return True
    return appeal.instance_id is not None and db.session.scalar(sa.select(HumanTask.id).where(
        HumanTask.instance_id == appeal.instance_id, HumanTask.assignee_id == user.id).limit(1)) is not None


def get_appeal(user: User, appeal_id: int) -> Appeal:
    appeal = db.session.get(Appeal, appeal_id)
    if appeal is None:
        raise NotFound("申诉不存在")
    if not may_see(user, appeal):
        raise Forbidden("无权查看此申诉")
    return appeal


def list_appeals(user: User, plan_id: int | None = None) -> list[Appeal]:
    query = sa.select(Appeal).order_by(Appeal.id.desc())
    if plan_id is not None:
        query = query.where(Appeal.plan_id == plan_id)
    if not user.has_role(*OFFICE):
        if not user.has_role(Role.ASSESSED_UNIT) or user.unit_id is None:
            raise Forbidden("无权查看申诉")
        query = query.where(Appeal.object_id == user.unit_id)
    return list(db.session.scalars(query.limit(500)))


def file_path(appeal: Appeal, file_id: int) -> tuple[AppealFile, Path]:
    row = next((f for f in appeal.files if f.id == file_id), None)
    if row is None:
        raise NotFound("附件不存在")
    return row, _files_dir() / row.sha256


def evidence(plan: Plan, objects: set[str] | None) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """The appeals behind each object × indicator score, for the results' drill-down."""
    out: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for appeal in db.session.scalars(sa.select(Appeal).where(Appeal.plan_id == plan.id).order_by(Appeal.id)):
        if objects is not None and appeal.object.code not in objects:
            continue
        out.setdefault((appeal.object.code, appeal.indicator.code), []).append(appeal_evidence(appeal))
    return out


def appeal_evidence(appeal: Appeal) -> dict[str, Any]:
    return {
        "kind": "appeal", "appeal": appeal.id, "status": appeal.status, "reason": appeal.reason,
        "filed_by": appeal.filed_by.username, "filed_at": appeal.created_at.isoformat(),
        "decision_comment": appeal.decision_comment, "score_before": appeal.score_before,
        "score_after": appeal.score_after,
        "reevaluations": [{"evaluator": r.evaluator.username, "evaluator_name": r.evaluator.name,
                           "old": None if r.old_score is None else format(r.old_score.normalize(), "f"),
                           "score": format(r.score.normalize(), "f"), "comment": r.comment,
                           "at": r.created_at.isoformat()} for r in appeal.reevaluations],
    }


def appeal_dict(appeal: Appeal) -> dict[str, Any]:
    return {
        "id": appeal.id, "plan": appeal.plan_id, "object": appeal.object.code, "indicator": appeal.indicator.code,
        "status": appeal.status, "instance_id": appeal.instance_id,
        "files": [{"id": f.id, "name": f.filename, "size": f.size, "sha256": f.sha256} for f in appeal.files],
        **{k: v for k, v in appeal_evidence(appeal).items() if k not in ("kind", "appeal")},
        "decided_at": appeal.decided_at.isoformat() if appeal.decided_at else None,
        "resolved_at": appeal.resolved_at.isoformat() if appeal.resolved_at else None,
    }
