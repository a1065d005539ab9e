"""Indicator change control (A1.5), BPMN ``indicator_change``.

A published plan's indicators change only through a request with a reason, reviewed by someone
other than the requester. On approval the plan as it stood is kept as a version, the change is
applied, and the plan's ``version`` increments; earlier versions stay readable.

A request names indicators by code and the fields to change (name, weight, max score, standard,
input adapter, data source). The plan as it would be after the change is validated exactly like a
new plan, so sibling weights must still sum to 100.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from app.extensions import db
from app.i18n import N_
from app.models import Plan, PlanChange, PlanStatus, PlanVersion, ProcessInstance, Role, ScoreEntry, User
from app.models.base import utcnow
from app.services import plans
from app.services.errors import Conflict, Forbidden, Invalid, NotFound
from app.workflow import hooks, runtime

PROCESS = "indicator_change"
CHANGEABLE = ("name", "weight", "max_score", "standard", "input", "source")
FIELD_LABELS = {"name": N_("名称"), "weight": N_("权重"), "max_score": N_("满分"), "standard": N_("评估标准"),
                "input": N_("录入方式"), "source": N_("数据来源")}
STATUS_LABELS = {"pending": N_("审核中"), "approved": N_("已生效"), "rejected": N_("未通过")}


# ----------------------------------------------------------------------------- validation

def _proposed(plan: Plan, items: list[dict[str, Any]]) -> dict[str, Any]:
    """The whole plan payload as it would be after the change."""
    by_code = {item["code"]: item for item in items}
    payload = plans.plan_dict(plan)

    def apply(nodes: list[dict[str, Any]]) -> None:
        for node in nodes:
            for key, value in by_code.get(node["code"], {}).items():
                if key != "code":
                    node[key] = value
            apply(node["children"])

    apply(payload["indicators"])
    return payload


def _items(plan: Plan, raw: Any) -> list[dict[str, Any]]:
    errors: dict[str, list[str]] = {}
    if not isinstance(raw, list) or not raw:
        raise Invalid("请列出要变更的指标", {"indicators": ["至少变更一个指标。"]})
    codes = {i.code for i in plan.indicators}
    items, seen = [], set()
    for n, item in enumerate(raw):
        key = f"indicators[{n}]"
        if not isinstance(item, dict):
            errors.setdefault(key, []).append("须为 {code, 要变更的字段…}。")
            continue
        code = str(item.get("code") or "").strip()
        unknown = sorted(set(item) - {"code", *CHANGEABLE})
        if code not in codes:
            errors.setdefault(f"{key}.code", []).append(f"计划中没有指标 {code}。" if code else "不能为空。")
        elif code in seen:
            errors.setdefault(f"{key}.code", []).append(f"指标 {code} 重复。")
        if unknown:
            errors.setdefault(key, []).append(
                f"不能通过变更修改 {'、'.join(unknown)}；可变更：{'、'.join(CHANGEABLE)}。")
        if not set(item) & set(CHANGEABLE):
            errors.setdefault(key, []).append("没有要变更的内容。")
        seen.add(code)
        items.append({k: v for k, v in item.items() if k in ("code", *CHANGEABLE)} | {"code": code})
    if errors:
        raise Invalid("变更内容有误", errors)
    return items


def _check_scores_fit(plan: Plan, data: plans.PlanInput) -> None:
    """A lower full mark must still hold every score already entered for that indicator."""
    limits: dict[str, Decimal] = {}

    def walk(nodes: list[plans.IndicatorInput]) -> None:
        for node in nodes:
            limits[node.code] = node.max_score
            walk(node.children)

    walk(data.indicators)
    ids = {i.id: i.code for i in plan.indicators}
    highest = db.session.execute(sa.select(ScoreEntry.indicator_id, sa.func.max(ScoreEntry.score))
                                 .where(ScoreEntry.plan_id == plan.id).group_by(ScoreEntry.indicator_id))
    for indicator_id, top in highest:
        code = ids.get(indicator_id)
        if code is not None and top > limits[code]:
            raise Invalid("满分低于已录入的分数", {"max_score": [
                f"指标 {code} 已有 {format(top.normalize(), 'f')} 分的评分，满分不能低于它。"]})


def validate(plan: Plan, items: list[dict[str, Any]]) -> plans.PlanInput:
    try:
        data = plans.parse_plan(_proposed(plan, items))
    except Invalid as exc:
        raise Invalid("变更后的计划有误", exc.errors) from None
    _check_scores_fit(plan, data)
    return data


# ----------------------------------------------------------------------------- requesting

def open_plan(user: User, plan_id: int) -> Plan:
    plan = plans.get_plan(user, plan_id)
    if not user.has_role(Role.ASSESSMENT_MANAGER):
        raise Forbidden("只有考核管理员可以申请指标变更")
    if plan.status != PlanStatus.PUBLISHED:
        raise Conflict("只有已发布的计划需要走变更审批；草稿可直接修改")
    if plan.results_stage is not None:
        raise Conflict("考核结果已发布，指标不能再变更")
    return plan


def pending_change(plan: Plan) -> PlanChange | None:
    return db.session.scalar(sa.select(PlanChange).where(PlanChange.plan_id == plan.id,
                                                         PlanChange.status == "pending"))


def request_change(user: User, plan_id: int, payload: Any) -> PlanChange:
    if not isinstance(payload, dict):
        raise Invalid("请求格式错误", {"body": ["须为 JSON 对象。"]})
    plan = plans.lock(open_plan(user, plan_id))
    waiting = pending_change(plan)
    if waiting is not None:
        raise Conflict(f"此计划已有一项变更正在审核（{waiting.requested_by.name} 于 {waiting.created_at:%Y-%m-%d} "
                       "提出），审核结束后再提出新的变更")
    reason = payload.get("reason")
    reason = reason.strip() if isinstance(reason, str) else ""
    errors = {}
    if not reason:
        errors["reason"] = ["须说明变更理由。"]
    elif len(reason) > 2000:
        errors["reason"] = ["最多 2000 个字符。"]
    items = _items(plan, payload.get("indicators"))
    if errors:
        raise Invalid("变更内容有误", errors)
    validate(plan, items)
    change = PlanChange(plan_id=plan.id, requested_by=user, reason=reason, indicators=items,
                        base_version=plan.version, status="pending")
    db.session.add(change)
    db.session.flush()
    instance = runtime.start(PROCESS, business_key=f"plan_change:{change.id}", title=f"{plan.name}（指标变更）",
                             user=user, data={"change_id": change.id, "plan_id": plan.id,
                                              "requester": user.username})
    change.instance_id = instance.id
    db.session.flush()
    return change


# ----------------------------------------------------------------------------- deciding

def _apply(change: PlanChange) -> None:
    plan = db.session.get(Plan, change.plan_id)
    if plan is None:
        raise runtime.ProcessError(f"plan {change.plan_id} is gone")
    plan = plans.lock(plan)
    if plan.version != change.base_version:
        raise runtime.ProcessError(f"计划已是第 {plan.version} 版，此变更基于第 {change.base_version} 版")
    if plan.results_stage is not None:
        raise runtime.ProcessError("考核结果已发布，指标不能再变更")
    try:
        data = validate(plan, change.indicators)
    except Invalid as exc:
        raise runtime.ProcessError(f"{exc.message}：{exc.errors}") from None
    db.session.add(PlanVersion(plan_id=plan.id, version=plan.version, snapshot=plans.plan_dict(plan)))
    proposed: dict[str, plans.IndicatorInput] = {}

    def walk(nodes: list[plans.IndicatorInput]) -> None:
        for node in nodes:
            proposed[node.code] = node
            walk(node.children)

    walk(data.indicators)
    for indicator in plan.indicators:   # in place: score entries keep pointing at their indicator
        new = proposed[indicator.code]
        indicator.name, indicator.weight, indicator.max_score = new.name, new.weight, new.max_score
        indicator.standard, indicator.input_adapter, indicator.source = new.standard, new.input_adapter, new.source
    plan.version += 1


@hooks.on_case_change("plan_change")
def _follow_instance(instance: ProcessInstance) -> None:
    if instance.case_status not in ("approved", "rejected"):
        return
    change = db.session.get(PlanChange, int(str(instance.business_key).split(":", 1)[1]))
    if change is None or change.status != "pending":
        return
    if instance.case_status == "approved":
        _apply(change)
    change.status, change.decided_at = instance.case_status, utcnow()


# ----------------------------------------------------------------------------- reading

def changes_of(plan: Plan) -> list[PlanChange]:
    return list(db.session.scalars(sa.select(PlanChange).where(PlanChange.plan_id == plan.id)
                                   .order_by(PlanChange.id.desc())))


def plan_at_version(user: User, plan_id: int, version: int) -> dict[str, Any]:
    """The plan as it stood at ``version``: the current plan, or the copy kept when it changed."""
    plan = plans.get_plan(user, plan_id)
    if version == plan.version:
        return plans.plan_dict(plan)
    kept = db.session.scalar(sa.select(PlanVersion).where(PlanVersion.plan_id == plan.id,
                                                          PlanVersion.version == version))
    if kept is None:
        raise NotFound(f"此计划没有第 {version} 版（当前为第 {plan.version} 版）")
    return dict(kept.snapshot)


@dataclass
class DiffRow:
    code: str
    name: str
    field: str
    before: Any
    after: Any


def diff(change: PlanChange) -> list[DiffRow]:
    """What the change alters, field by field, against the version it was based on."""
    plan = db.session.get(Plan, change.plan_id)
    if plan is None:
        return []
    base: dict[str, Any] = plans.plan_dict(plan) if plan.version == change.base_version else next(
        (v.snapshot for v in db.session.scalars(sa.select(PlanVersion).where(
            PlanVersion.plan_id == plan.id, PlanVersion.version == change.base_version))), plans.plan_dict(plan))
    current: dict[str, dict[str, Any]] = {}

    def walk(nodes: list[dict[str, Any]]) -> None:
        for node in nodes:
            current[node["code"]] = node
            walk(node.get("children", []))

    walk(base["indicators"])
    rows = []
    for item in change.indicators:
        node = current.get(item["code"], {})
        for key in CHANGEABLE:
            if key in item:
                rows.append(DiffRow(item["code"], str(node.get("name", "")), key, node.get(key), item[key]))
    return rows


def change_dict(change: PlanChange) -> dict[str, Any]:
    return {
        "id": change.id, "plan_id": change.plan_id, "status": change.status, "reason": change.reason,
        "requested_by": change.requested_by.username, "base_version": change.base_version,
        "indicators": change.indicators, "instance_id": change.instance_id,
        "created_at": change.created_at.isoformat(),
        "decided_at": change.decided_at.isoformat() if change.decided_at else None,
    }
