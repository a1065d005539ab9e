"""Rectification notices (整改通知书, A4.1), BPMN ``rectification``.

The assessment office issues a notice to a unit: the problems found, the requirements and a
deadline (a date, a date-time, or N working days). The unit answers with its self-analysis and
measures; the office closes the notice or returns it, and the deadline stays. Overdue and
escalation are the process's boundary timers on the unit's task (see ``app.services.chase``).

The notice's status follows the instance's ``case_status`` (issued → submitted → returned … →
closed); the listener below copies it onto the row, keeps the unit's latest report on the row
and tells whoever must act next.
"""
from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from flask import current_app

from app.extensions import db
from app.i18n import N_
from app.models import (
    DocumentKind,
    HumanTask,
    Phase,
    Plan,
    ProcessEvent,
    ProcessInstance,
    Rectification,
    Role,
    TaskStatus,
    Unit,
    User,
)
from app.models.base import utcnow
from app.services import accounts, documents, notifications
from app.services.errors import Forbidden, Invalid, NotFound
from app.workdays import END_OF_DAY, SHANGHAI, add_working_days
from app.workflow import hooks, runtime

PROCESS = "rectification"
OFFICE = (Role.ADMIN, Role.ASSESSMENT_MANAGER)
REPORT_TASK = "rectify_report"
STATUS_LABELS = {"issued": N_("待整改"), "submitted": N_("待核验"), "returned": N_("退回整改"),
                 "closed": N_("已销号")}
MAX_DAYS = 90
TITLE_MAX, TEXT_MAX = 200, 5000
HISTORY_TYPES = ("completed", "overdue", "escalated", "chased")


# ----------------------------------------------------------------------------- issuing

def may_issue(user: User) -> bool:
    return user.has_role(*OFFICE)


def _text(payload: dict[str, Any], key: str, limit: int, errors: dict[str, list[str]], required: bool) -> str:
    value = payload.get(key)
    if value is not None and not isinstance(value, str):
        errors[key] = ["须为文本。"]
        return ""
    text = (value or "").replace("\r\n", "\n").strip()
    if required and not text:
        errors[key] = ["不能为空。"]
    elif len(text) > limit:
        errors[key] = [f"最多 {limit} 个字符。"]
    return text


def parse_deadline(payload: dict[str, Any], now: datetime) -> datetime:
    """Exactly one of ``deadline`` (an ISO date: 23:59:59 Beijing time of that day; or an ISO
    date-time with its zone) and ``deadline_days`` (1–90 working days from today)."""
    raw, days = payload.get("deadline"), payload.get("deadline_days")
    given = [k for k, v in (("deadline", raw), ("deadline_days", days)) if v not in (None, "")]
    if len(given) != 1:
        message = "deadline 与 deadline_days 只能给出其一。" if given else "须给出 deadline 或 deadline_days。"
        raise Invalid("整改期限有误", {"deadline": [message]})
    if given == ["deadline_days"]:
        if isinstance(days, bool) or not isinstance(days, int | str) or not str(days).strip().isdigit():
            raise Invalid("整改期限有误", {"deadline_days": ["须为整数（工作日数）。"]})
        count = int(str(days).strip())
        if not 1 <= count <= MAX_DAYS:
            raise Invalid("整改期限有误", {"deadline_days": [f"须在 1 到 {MAX_DAYS} 个工作日之间。"]})
        return add_working_days(now, count)
    if not isinstance(raw, str):
        raise Invalid("整改期限有误", {"deadline": ["须为 ISO 日期（2026-10-09）或带时区的日期时间。"]})
    text = raw.strip()
    try:
        if len(text) == 10:     # a date: the end of that day in Beijing time, as every deadline here
            deadline = datetime.combine(date.fromisoformat(text), END_OF_DAY, tzinfo=SHANGHAI)
        else:
            deadline = datetime.fromisoformat(text)
    except ValueError:
        raise Invalid("整改期限有误", {"deadline": ["须为 ISO 日期（2026-10-09）或带时区的日期时间。"]}) from None
    if deadline.tzinfo is None:
        raise Invalid("整改期限有误", {"deadline": ["日期时间须带时区，例如 2026-10-09T18:00:00+08:00。"]})
    if deadline <= now:
        raise Invalid("整改期限有误", {"deadline": ["期限须晚于现在。"]})
    return deadline


def _parse(payload: Any, now: datetime) -> tuple[Unit | None, Plan | None, dict[str, str], datetime | None]:
    """Every field is checked and every problem reported at once."""
    if not isinstance(payload, dict):
        raise Invalid("请求格式错误", {"body": ["须为 JSON 对象。"]})
    errors: dict[str, list[str]] = {}
    code = payload.get("unit")
    unit = db.session.scalar(sa.select(Unit).where(Unit.code == code.strip())) if isinstance(code, str) else None
    if unit is None or not unit.active:
        errors["unit"] = ["没有此单位。" if unit is None else "此单位已停用。"]
    plan = None
    if payload.get("plan") not in (None, ""):
        plan_id = payload["plan"]
        plan = db.session.get(Plan, plan_id) if isinstance(plan_id, int) and not isinstance(plan_id, bool) else None
        if plan is None:
            errors["plan"] = ["没有此考核计划。"]
    texts = {"title": _text(payload, "title", TITLE_MAX, errors, required=True),
             "problems": _text(payload, "problems", TEXT_MAX, errors, required=True),
             "requirements": _text(payload, "requirements", TEXT_MAX, errors, required=False)}
    deadline = None
    try:
        deadline = parse_deadline(payload, now)
    except Invalid as exc:
        errors.update(exc.errors)
    if errors:
        raise Invalid("整改通知书填写有误", errors)
    return unit, plan, texts, deadline


def escalation_time(deadline: datetime) -> datetime:
    """When an overdue notice is reported to leaders: some working days after the deadline."""
    return add_working_days(deadline, int(current_app.config["RECTIFICATION_ESCALATE_WORKING_DAYS"]))


def issue(user: User, payload: Any) -> Rectification:
    """Issue a notice and start its process; bad input creates nothing."""
    if not may_issue(user):
        raise Forbidden("只有考核管理员可以下发整改通知书")
    unit, plan, texts, deadline = _parse(payload, utcnow())
    assert unit is not None and deadline is not None
    rect = Rectification(unit_id=unit.id, plan_id=plan.id if plan else None, deadline=deadline,
                         issued_by_id=user.id, status="issued", **texts)
    db.session.add(rect)
    db.session.flush()
    instance = runtime.start(PROCESS, business_key=f"{PROCESS}:{rect.id}", title=f"{rect.title}（{unit.name}）",
                             user=user, data={"rectification_id": rect.id, "unit": unit.code,
                                              "deadline_at": deadline.isoformat(),
                                              "escalate_at": escalation_time(deadline).isoformat()})
    rect.instance_id = instance.id
    notifications.notify(unit_users(rect), f"整改通知：{rect.title}",
                         f"考核办向贵单位下发整改通知书，请于 {_local(deadline)} 前提交自我分析与整改报告。",
                         link(rect), kind="rectification")
    db.session.flush()
    return rect


# ----------------------------------------------------------------------------- following the process

def _local(at: datetime) -> str:
    return f"{at.astimezone(SHANGHAI):%Y-%m-%d %H:%M}"


def link(rect: Rectification) -> str:
    return notifications.link("rectifications.show", f"/rectifications/{rect.id}", rect_id=rect.id)


def unit_users(rect: Rectification) -> list[User]:
    """Who answers a notice: the assessed-unit users of its unit."""
    return accounts.users_with_role(Role.ASSESSED_UNIT, [rect.unit_id])


def office_users() -> list[User]:
    return accounts.users_with_role(Role.ASSESSMENT_MANAGER)


def _last_completion(instance: ProcessInstance) -> dict[str, Any]:
    """The form data of the task whose completion moved the case (logged just before the listener runs)."""
    db.session.flush()
    data = db.session.scalar(sa.select(ProcessEvent.data).where(
        ProcessEvent.instance_id == instance.id, ProcessEvent.type == "completed")
        .order_by(ProcessEvent.id.desc()).limit(1))
    return dict(data or {})


@hooks.on_case_change(PROCESS)
def _follow_instance(instance: ProcessInstance) -> None:
    status = instance.case_status
    if status not in STATUS_LABELS:
        return
    rect = db.session.get(Rectification, int(str(instance.business_key).split(":", 1)[1]))
    if rect is None or rect.status == status:
        return
    rect.status = status
    if status == "submitted":
        report = _last_completion(instance)
        rect.analysis, rect.measures = str(report.get("analysis") or ""), str(report.get("measures") or "")
        notifications.notify(office_users(), f"整改报告待核验：{rect.title}",
                             f"{rect.unit.name} 已提交自我分析与整改报告，请核验。", link(rect), kind="rectification")
    elif status == "returned":
        comment = str(_last_completion(instance).get("comment") or "")
        notifications.notify(unit_users(rect), f"整改报告被退回：{rect.title}",
                             f"退回理由：{comment}\n请补充整改后重新提交，期限仍为 {_local(rect.deadline)}。",
                             link(rect), kind="rectification")
    elif status == "closed":
        rect.closed_at = utcnow()
        # The notice and its outcome are archived as a signed PDF (rendered by the worker after commit).
        document = documents.create(
            kind=DocumentKind.RECTIFICATION_NOTICE, title=rect.title, phase=Phase.OPERATION,
            case_key=f"{PROCESS}:{rect.id}", instance_id=rect.instance_id,
            parties=[("unit", rect.unit_id, None), ("office", None, rect.issued_by_id)])
        rect.document_id = document.id
        notifications.notify(unit_users(rect), f"整改已通过核验：{rect.title}",
                             "考核办已核验通过贵单位的整改报告，整改通知书已销号并归档。", link(rect),
                             kind="rectification")


# ----------------------------------------------------------------------------- reading

def _may_see(user: User, rect: Rectification) -> bool:
    return user.has_role(*OFFICE) or (user.unit_id is not None and user.unit_id == rect.unit_id)


def list_for(user: User) -> list[Rectification]:
    """The office sees every notice; anyone else the notices to their own unit."""
    query = sa.select(Rectification).order_by(Rectification.id.desc())
    if not user.has_role(*OFFICE):
        if user.unit_id is None:
            return []
        query = query.where(Rectification.unit_id == user.unit_id)
    return list(db.session.scalars(query))


def get(user: User, rect_id: int) -> Rectification:
    rect = db.session.get(Rectification, rect_id)
    if rect is None:
        raise NotFound("整改通知书不存在")
    if not _may_see(user, rect):
        raise Forbidden("无权查看此整改通知书")
    return rect


def is_overdue(rect: Rectification, now: datetime | None = None) -> bool:
    """The unit owes its report and the deadline has passed (a return keeps the deadline)."""
    return rect.status in ("issued", "returned") and rect.deadline < (now or utcnow())


def history(rect: Rectification) -> list[ProcessEvent]:
    """Submissions, verifications, chases and escalations, oldest first."""
    if rect.instance_id is None:
        return []
    return list(db.session.scalars(sa.select(ProcessEvent).where(
        ProcessEvent.instance_id == rect.instance_id, ProcessEvent.type.in_(HISTORY_TYPES))
        .order_by(ProcessEvent.id)))


def open_task(rect: Rectification) -> HumanTask | None:
    if rect.instance_id is None:
        return None
    return db.session.scalar(sa.select(HumanTask).where(
        HumanTask.instance_id == rect.instance_id, HumanTask.status == TaskStatus.OPEN).order_by(HumanTask.id))


def rectification_dict(rect: Rectification) -> dict[str, Any]:
    plan = db.session.get(Plan, rect.plan_id) if rect.plan_id else None
    return {
        "id": rect.id, "unit": rect.unit.code, "unit_name": rect.unit.name,
        "plan": rect.plan_id, "plan_name": plan.name if plan else None,
        "title": rect.title, "problems": rect.problems, "requirements": rect.requirements,
        "deadline": rect.deadline.isoformat(), "status": rect.status, "overdue": is_overdue(rect),
        "analysis": rect.analysis, "measures": rect.measures, "instance_id": rect.instance_id,
        "issued_by": rect.issued_by.username, "created_at": rect.created_at.isoformat(),
        "closed_at": rect.closed_at.isoformat() if rect.closed_at else None,
    }


# ----------------------------------------------------------------------------- the archived notice

def _paragraphs(text: str | None) -> list[str]:
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


@documents.renderer(DocumentKind.RECTIFICATION_NOTICE)
def layout(document: Any) -> documents.Layout:
    """整改通知书: the problems and requirements, the unit's analysis and measures, the verification."""
    rect = db.session.scalar(sa.select(Rectification).where(Rectification.document_id == document.id))
    if rect is None:
        raise RuntimeError(f"document {document.id} has no rectification notice")
    plan = db.session.get(Plan, rect.plan_id) if rect.plan_id else None
    steps, submitted_at = [], None
    for event in history(rect):
        if event.type != "completed":
            continue
        if event.bpmn_id == "rectify_report":
            submitted_at = event.at
        opinion = event.comment or documents.DECISION_LABELS.get(event.decision or "", "")
        steps.append({"at": documents.local(event.at), "who": event.user.name if event.user else "",
                      "what": event.task_name or "", "opinion": opinion})
    issuer = rect.issued_by.unit.name if rect.issued_by.unit else rect.issued_by.name
    context = {
        "r": {"title": rect.title, "number": f"整改〔{rect.created_at.astimezone(SHANGHAI):%Y}〕{rect.id}号",
              "issuer": issuer, "unit": rect.unit.name, "plan": plan.name if plan else None,
              "problems": _paragraphs(rect.problems), "requirements": _paragraphs(rect.requirements),
              "deadline": documents.local(rect.deadline), "analysis": _paragraphs(rect.analysis),
              "measures": _paragraphs(rect.measures), "submitted_at": documents.local(submitted_at),
              "late": submitted_at is not None and submitted_at > rect.deadline, "steps": steps,
              "closed_on": documents.chinese_date(rect.closed_at)},
        "evidence": documents.evidence(document, "整改通知书"),
    }
    return documents.Layout("rectification_notice", context, [])
