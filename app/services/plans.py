"""Assessment plans (A1.1–A1.3): drafting, validation of weights, submission and publication.

A plan's status follows its ``plan_approval`` instance: the BPMN sets ``case_status`` and the
listener below copies it onto the plan. No Python decides the next step.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any, cast

import sqlalchemy as sa

from app.extensions import db
from app.i18n import N_
from app.models import (
    Cycle,
    DataSource,
    EvaluatorGroup,
    HumanTask,
    Indicator,
    Plan,
    PlanObject,
    PlanStatus,
    ProcessInstance,
    Role,
    Unit,
    User,
)
from app.models.base import utcnow
from app.scoring.method import check_rule
from app.services.errors import Conflict, Forbidden, Invalid, NotFound
from app.workflow import hooks, runtime

HUNDRED = Decimal(100)
MAX_SCORE_LIMIT = Decimal(100000)  # fits the column (Numeric(9, 3)); no real scale comes near it
STAFF_ROLES = (Role.ADMIN, Role.ASSESSMENT_MANAGER, Role.REVIEWER, Role.LEADER)
CYCLE_LABELS: dict[str, str] = {
    Cycle.YEAR: N_("年度"), Cycle.HALF: N_("半年"), Cycle.QUARTER: N_("季度"), Cycle.MONTH: N_("月度"),
}
STATUS_LABELS: dict[str, str] = {
    PlanStatus.DRAFT: N_("草稿"), PlanStatus.IN_REVIEW: N_("审核中"), PlanStatus.RETURNED: N_("已退回"),
    PlanStatus.PUBLISHED: N_("已发布"),
}
EVALUATOR_KINDS = ("role", "unit", "username")


@dataclass
class IndicatorInput:
    code: str
    name: str
    weight: Decimal
    method: str
    max_score: Decimal
    standard: str
    children: list[IndicatorInput] = field(default_factory=list)
    input_adapter: dict[str, Any] | None = None
    source: dict[str, Any] | None = None


@dataclass
class PlanInput:
    name: str
    cycle: str
    period_start: date
    period_end: date
    goals: str
    indicators: list[IndicatorInput]
    evaluators: list[tuple[str, str, Decimal]]
    objects: list[Unit]
    payment_bands: list[dict[str, str]] = field(default_factory=list)
    public: bool = False


class _Errors:
    def __init__(self) -> None:
        self.errors: dict[str, list[str]] = {}

    def add(self, key: str, message: str) -> None:
        self.errors.setdefault(key, []).append(message)


def _text(errors: _Errors, key: str, value: Any, *, required: bool = True, max_len: int = 200) -> str:
    text = value.strip() if isinstance(value, str) else ("" if value is None else str(value)).strip()
    if required and not text:
        errors.add(key, "不能为空。")
    elif len(text) > max_len:
        errors.add(key, f"最多 {max_len} 个字符。")
    return text


def _decimal(errors: _Errors, key: str, value: Any, default: Decimal | None = None,
             maximum: Decimal = HUNDRED) -> Decimal:
    if value in (None, "") and default is not None:
        return default
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        errors.add(key, "须为数字。")
        return Decimal(0)
    if not number.is_finite() or number <= 0:
        errors.add(key, "须为大于 0 的数字。")
    elif number > maximum:
        errors.add(key, f"不能超过 {_plain(maximum)}。")
    elif number.as_tuple().exponent < -3:  # type: ignore[operator]
        errors.add(key, "最多保留三位小数。")
    return number


def _date(errors: _Errors, key: str, value: Any) -> date:
    try:
        return date.fromisoformat(str(value))
    except (TypeError, ValueError):
        errors.add(key, "须为日期，如 2027-01-01。")
        return date.min


def _indicators(errors: _Errors, raw: Any, prefix: str, seen: set[str], parent_label: str | None,
                depth: int = 0) -> list[IndicatorInput]:
    if not isinstance(raw, list) or not raw:
        errors.add(prefix or "indicators", "至少需要一个指标。")
        return []
    if depth > 4:
        errors.add(prefix, "指标层级最多五级。")
        return []
    items = []
    for i, item in enumerate(raw):
        key = f"{prefix}[{i}]" if prefix else f"indicators[{i}]"
        if not isinstance(item, dict):
            errors.add(key, "格式错误。")
            continue
        code = _text(errors, f"{key}.code", item.get("code"), max_len=40)
        if code and code in seen:
            errors.add(f"{key}.code", f"指标编码 {code} 重复。")
        seen.add(code)
        method = item.get("method") or "manual"
        if method not in ("manual", "auto"):
            errors.add(f"{key}.method", "评分方式须为 manual（手工）或 auto（自动）。")
        name = _text(errors, f"{key}.name", item.get("name"))
        indicator = IndicatorInput(
            code=code, name=name, weight=_decimal(errors, f"{key}.weight", item.get("weight")),
            method=method,
            max_score=_decimal(errors, f"{key}.max_score", item.get("max_score"), HUNDRED, MAX_SCORE_LIMIT),
            standard=_text(errors, f"{key}.standard", item.get("standard"), required=False, max_len=4000),
        )
        if item.get("children"):
            indicator.children = _indicators(errors, item["children"], f"{key}.children", seen,
                                             name or code, depth + 1)
            for field_name in ("input", "source"):
                if item.get(field_name):
                    errors.add(f"{key}.{field_name}", "上级指标的得分由下级指标汇总，不能配置此项。")
        elif method == "manual":
            indicator.input_adapter = _input_adapter(errors, f"{key}.input", item.get("input"), indicator.max_score)
            if item.get("source"):
                errors.add(f"{key}.source", "只有自动（auto）指标可以配置数据来源。")
        else:
            indicator.source = _source(errors, f"{key}.source", item.get("source"))
            if item.get("input"):
                errors.add(f"{key}.input", "自动指标由数据采集计分，不能配置录入方式。")
        items.append(indicator)
    total = sum((i.weight for i in items), Decimal(0))
    if items and total != HUNDRED:
        where = f"「{parent_label}」的下级指标" if parent_label else "一级指标"
        errors.add(prefix or "indicators", f"{where}权重之和为 {total.normalize():f}，应为 100。")
    return items


INPUT_KINDS = ("range", "deductions", "grades")
MAX_ADAPTER_ITEMS = 50


def _input_adapter(errors: _Errors, key: str, raw: Any, max_score: Decimal) -> dict[str, Any] | None:
    """How a manual leaf is entered. ``range`` (a number in 0–max, the default) is stored as None."""
    if raw in (None, "", {}):
        return None
    if not isinstance(raw, dict) or raw.get("kind") not in INPUT_KINDS:
        errors.add(key, "录入方式 kind 须为 range（分值）、deductions（扣分项）或 grades（等级）。")
        return None
    kind = raw["kind"]
    if kind == "range":
        return None
    list_key, value_key = ("items", "points") if kind == "deductions" else ("choices", "score")
    entries = raw.get(list_key)
    if not isinstance(entries, list) or not entries:
        errors.add(f"{key}.{list_key}", "至少需要一项。")
        return None
    if len(entries) > MAX_ADAPTER_ITEMS:
        errors.add(f"{key}.{list_key}", f"最多 {MAX_ADAPTER_ITEMS} 项。")
        return None
    cleaned, labels = [], set()
    for i, entry in enumerate(entries):
        where = f"{key}.{list_key}[{i}]"
        if not isinstance(entry, dict):
            errors.add(where, "格式错误。")
            continue
        label = _text(errors, f"{where}.label", entry.get("label"), max_len=100)
        if label in labels:
            errors.add(f"{where}.label", f"“{label}”重复。")
        labels.add(label)
        if kind == "deductions":
            value = _decimal(errors, f"{where}.points", entry.get("points"), maximum=max_score)
        else:
            value = _bounded(errors, f"{where}.score", entry.get("score"), max_score)
        cleaned.append({"label": label, value_key: _plain(value)})
    return {"kind": kind, list_key: cleaned}


def _source(errors: _Errors, key: str, raw: Any) -> dict[str, Any] | None:
    """``{datasource, rule}`` of an automatic leaf; without one the indicator stays incomplete."""
    if raw in (None, "", {}):
        return None
    if not isinstance(raw, dict):
        errors.add(key, "须为 {datasource, rule}。")
        return None
    name = _text(errors, f"{key}.datasource", raw.get("datasource"), max_len=100)
    if name and not db.session.scalar(sa.select(DataSource.id).where(DataSource.name == name)):
        errors.add(f"{key}.datasource", f"数据源 {name} 不存在。")
    rule = raw.get("rule")
    if not isinstance(rule, dict):
        errors.add(f"{key}.rule", "须为计分规则 {kind: linear|thresholds|ratio, …}。")
        return None
    try:
        check_rule(rule)
    except ValueError as exc:
        errors.add(f"{key}.rule", str(exc))
        return None
    return {"datasource": name, "rule": _rule_plain(rule)}


def _rule_plain(rule: dict[str, Any]) -> dict[str, Any]:
    """The rule as stored: its numbers as plain decimal strings, unknown keys dropped."""
    def number(value: Any) -> str:
        return _plain(Decimal(str(value)))

    kind = rule["kind"]
    if kind == "linear":
        return {"kind": kind, "worst": number(rule["worst"]), "best": number(rule["best"])}
    if kind == "thresholds":
        return {"kind": kind, "bands": [{"min": number(b["min"]), "score": number(b["score"])} for b in rule["bands"]]}
    return {"kind": kind, "target": number(rule.get("target", 1))}


def _evaluators(errors: _Errors, raw: Any) -> list[tuple[str, str, Decimal]]:
    if not isinstance(raw, list) or not raw:
        errors.add("evaluators", "至少需要一个评估人组。")
        return []
    groups = []
    for i, item in enumerate(raw):
        key = f"evaluators[{i}]"
        if not isinstance(item, dict):
            errors.add(key, "格式错误。")
            continue
        given = [k for k in EVALUATOR_KINDS if item.get(k)]
        if len(given) != 1:
            errors.add(key, "须且只能指定 role、unit、username 之一。")
            continue
        kind = given[0]
        ref = str(item[kind]).strip()
        if kind == "role" and ref not in {r.value for r in Role}:
            errors.add(f"{key}.role", f"未知角色 {ref}。")
        elif kind == "unit" and not db.session.scalar(sa.select(Unit.id).where(Unit.code == ref)):
            errors.add(f"{key}.unit", f"单位 {ref} 不存在。")
        elif kind == "username" and not db.session.scalar(sa.select(User.id).where(User.username == ref)):
            errors.add(f"{key}.username", f"用户 {ref} 不存在。")
        groups.append((kind, ref, _decimal(errors, f"{key}.weight", item.get("weight"))))
    total = sum((g[2] for g in groups), Decimal(0))
    if groups and total != HUNDRED:
        errors.add("evaluators", f"评估人权重之和为 {total.normalize():f}，应为 100。")
    return groups


def _objects(errors: _Errors, raw: Any) -> list[Unit]:
    if not isinstance(raw, list) or not raw:
        errors.add("objects", "至少需要一个考核对象。")
        return []
    codes = [str(c).strip() for c in raw]
    units = {u.code: u for u in db.session.scalars(sa.select(Unit).where(Unit.code.in_(codes)))}
    seen: set[str] = set()
    result = []
    for i, code in enumerate(codes):
        if code in seen:
            errors.add(f"objects[{i}]", f"考核对象 {code} 重复。")
        elif code not in units:
            errors.add(f"objects[{i}]", f"单位 {code} 不存在。")
        else:
            result.append(units[code])
        seen.add(code)
    return result


def _payment_bands(errors: _Errors, raw: Any) -> list[dict[str, str]]:
    """``[{min, ratio}]``: min a total on 0–100, ratio on 0–1; mins distinct."""
    if raw in (None, []):
        return []
    if not isinstance(raw, list):
        errors.add("payment_bands", "须为 [{min, ratio}] 列表。")
        return []
    bands = []
    for i, band in enumerate(raw):
        key = f"payment_bands[{i}]"
        if not isinstance(band, dict):
            errors.add(key, "须为 {min, ratio}。")
            continue
        low = _bounded(errors, f"{key}.min", band.get("min"), HUNDRED)
        ratio = _bounded(errors, f"{key}.ratio", band.get("ratio"), Decimal(1))
        bands.append({"min": _plain(low), "ratio": _plain(ratio)})
    mins = [b["min"] for b in bands]
    if len(mins) != len(set(mins)):
        errors.add("payment_bands", "各档的 min 不能重复。")
    return sorted(bands, key=lambda b: Decimal(b["min"]), reverse=True)


def _bounded(errors: _Errors, key: str, value: Any, maximum: Decimal) -> Decimal:
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        errors.add(key, "须为数字。")
        return Decimal(0)
    if not number.is_finite() or not Decimal(0) <= number <= maximum:
        errors.add(key, f"须在 0 到 {_plain(maximum)} 之间。")
        return Decimal(0)
    return number


def _flag(errors: _Errors, key: str, value: Any) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        errors.add(key, "须为 true 或 false。")
        return False
    return value


def parse_plan(payload: Any) -> PlanInput:
    """Validate a whole plan; every problem is reported at once, keyed by where it is."""
    if not isinstance(payload, dict):
        raise Invalid("请求格式错误", {"body": ["须为 JSON 对象。"]})
    errors = _Errors()
    name = _text(errors, "name", payload.get("name"))
    cycle = payload.get("cycle")
    if cycle not in {c.value for c in Cycle}:
        errors.add("cycle", "周期须为 year、half、quarter、month 之一。")
    start = _date(errors, "period_start", payload.get("period_start"))
    end = _date(errors, "period_end", payload.get("period_end"))
    if start != date.min and end != date.min and end < start:
        errors.add("period_end", "结束日期不能早于开始日期。")
    plan = PlanInput(
        name=name, cycle=str(cycle), period_start=start, period_end=end,
        goals=_text(errors, "goals", payload.get("goals"), required=False, max_len=8000),
        indicators=_indicators(errors, payload.get("indicators"), "", set(), None),
        evaluators=_evaluators(errors, payload.get("evaluators")),
        objects=_objects(errors, payload.get("objects")),
        payment_bands=_payment_bands(errors, payload.get("payment_bands")),
        public=_flag(errors, "public", payload.get("public")),
    )
    if errors.errors:
        raise Invalid("考核计划填写有误", errors.errors)
    return plan


# ----------------------------------------------------------------------------- access

def may_view(user: User, plan: Plan) -> bool:
    return user.has_role(*STAFF_ROLES) or plan.author_id == user.id or plan.status == PlanStatus.PUBLISHED


def may_edit(user: User, plan: Plan) -> bool:
    return plan.author_id == user.id or user.is_admin


def get_plan(user: User, plan_id: int) -> Plan:
    plan = db.session.get(Plan, plan_id)
    if plan is None:
        raise NotFound("考核计划不存在")
    if not may_view(user, plan):
        raise Forbidden("无权查看此考核计划")
    return plan


def list_plans(user: User) -> list[Plan]:
    query = sa.select(Plan).order_by(Plan.id.desc())
    if not user.has_role(*STAFF_ROLES):
        query = query.where(sa.or_(Plan.status == PlanStatus.PUBLISHED, Plan.author_id == user.id))
    return list(db.session.scalars(query))


# ----------------------------------------------------------------------------- changes

def _build_indicators(plan: Plan, items: list[IndicatorInput], parent: Indicator | None,
                      out: list[Indicator]) -> None:
    for item in items:
        indicator = Indicator(parent=parent, position=len(out), code=item.code, name=item.name,
                              weight=item.weight, method=item.method, max_score=item.max_score,
                              standard=item.standard, input_adapter=item.input_adapter, source=item.source)
        out.append(indicator)
        _build_indicators(plan, item.children, indicator, out)


def _apply(plan: Plan, data: PlanInput) -> None:
    plan.name, plan.cycle, plan.goals = data.name, data.cycle, data.goals
    plan.payment_bands, plan.public = data.payment_bands, data.public
    plan.period_start, plan.period_end = data.period_start, data.period_end
    plan.indicators.clear()
    plan.evaluators.clear()
    plan.objects.clear()
    db.session.flush()
    indicators: list[Indicator] = []
    with db.session.no_autoflush:
        _build_indicators(plan, data.indicators, None, indicators)
        plan.indicators.extend(indicators)
    plan.evaluators.extend(EvaluatorGroup(kind=k, ref=r, weight=w, position=i)
                           for i, (k, r, w) in enumerate(data.evaluators))
    plan.objects.extend(PlanObject(unit=u) for u in data.objects)


def create_plan(user: User, payload: Any) -> Plan:
    if not user.has_role(Role.ASSESSMENT_MANAGER):
        raise Forbidden("只有考核管理员可以制定考核计划")
    data = parse_plan(payload)
    plan = Plan(author=user, unit_id=user.unit_id, status=PlanStatus.DRAFT, name=data.name, cycle=data.cycle,
                period_start=data.period_start, period_end=data.period_end)
    db.session.add(plan)
    _apply(plan, data)
    db.session.flush()
    return plan


def lock(plan: Plan) -> Plan:
    """Re-read the plan under a row lock, so two submissions cannot both see a draft."""
    query = sa.select(Plan).where(Plan.id == plan.id).execution_options(populate_existing=True)
    if db.engine.dialect.name == "postgresql":
        query = query.with_for_update(of=Plan)  # not the outer-joined author/unit rows
    return db.session.execute(query).scalar_one()


def update_plan(user: User, plan: Plan, payload: Any) -> Plan:
    plan = lock(plan)
    if not may_edit(user, plan):
        raise Forbidden("只有计划制定人可以修改此计划")
    if not plan.editable:
        raise Conflict(f"计划{STATUS_LABELS.get(plan.status, plan.status)}，不能修改")
    _apply(plan, parse_plan(payload))
    if plan.instance_id is not None:
        # The inbox shows and searches the case title: keep it the plan's current name.
        db.session.execute(sa.update(ProcessInstance).where(ProcessInstance.id == plan.instance_id)
                           .values(title=plan.name).execution_options(synchronize_session=False))
        db.session.execute(sa.update(HumanTask).where(HumanTask.instance_id == plan.instance_id)
                           .values(title=plan.name).execution_options(synchronize_session=False))
    db.session.flush()
    return plan


def submit_plan(user: User, plan: Plan) -> ProcessInstance:
    """Start the approval instance. A returned plan is resubmitted through its ``revise`` task."""
    plan = lock(plan)
    if not may_edit(user, plan):
        raise Forbidden("只有计划制定人可以提交此计划")
    if plan.status != PlanStatus.DRAFT:
        raise Conflict(f"计划状态为“{STATUS_LABELS.get(plan.status, plan.status)}”，只有草稿可以提交审核")
    instance = runtime.start(
        "plan_approval", business_key=f"plan:{plan.id}", title=plan.name, user=user,
        data={"plan_id": plan.id, "plan_name": plan.name, "author": plan.author.username},
    )
    plan.instance_id = instance.id
    db.session.flush()
    return instance


@hooks.on_case_change("plan")
def _follow_instance(instance: ProcessInstance) -> None:
    """Copy the BPMN's ``case_status`` onto the plan; publication makes it read-only."""
    status = instance.case_status
    if status is None:
        return
    if status not in {s.value for s in PlanStatus}:
        raise runtime.ProcessError(f"plan_approval set unknown case_status {status!r}")
    plan_id = int(str(instance.business_key).split(":", 1)[1])
    values: dict[str, Any] = {"status": status}
    if status == PlanStatus.PUBLISHED:
        values["published_at"] = utcnow()
    # One UPDATE, no load: this runs on every step of every plan instance. A Plan already in this
    # session is not refreshed (callers that show it afterwards reload it).
    table = cast(sa.Table, Plan.__table__)  # Core UPDATE: no ORM bookkeeping on this hot path
    changed = db.session.execute(sa.update(table).where(table.c.id == plan_id, table.c.status != status)
                                 .values(updated_at=utcnow(), **values))
    if status == PlanStatus.PUBLISHED and changed.rowcount == 1:  # type: ignore[attr-defined]
        # Publication starts the scoring round; the guarded UPDATE makes this happen exactly once.
        from app.services import scoring_round  # it builds on this module
        scoring_round.start_round(plan_id)


# ----------------------------------------------------------------------------- output

def _plain(number: Decimal) -> str:
    """``70``, ``12.5`` — never ``7E+1``."""
    return format(number.normalize(), "f")


def indicator_dict(indicator: Indicator) -> dict[str, Any]:
    return {
        "code": indicator.code, "name": indicator.name, "weight": _plain(indicator.weight),
        "method": indicator.method, "max_score": _plain(indicator.max_score),
        "standard": indicator.standard, "children": [indicator_dict(c) for c in indicator.children],
        **({"input": indicator.input_adapter} if indicator.input_adapter else {}),
        **({"source": indicator.source} if indicator.source else {}),
    }


def plan_dict(plan: Plan) -> dict[str, Any]:
    return {
        "id": plan.id, "name": plan.name, "cycle": plan.cycle, "status": plan.status, "version": plan.version,
        "period_start": plan.period_start.isoformat(), "period_end": plan.period_end.isoformat(),
        "goals": plan.goals, "author": plan.author.username, "instance_id": plan.instance_id,
        "indicators": [indicator_dict(i) for i in plan.indicators if i.parent is None],
        "evaluators": [{g.kind: g.ref, "weight": _plain(g.weight)} for g in plan.evaluators],
        "objects": [o.unit.code for o in plan.objects],
        "payment_bands": plan.payment_bands or [], "public": plan.public,
        "results_stage": plan.results_stage,
        "created_at": plan.created_at.isoformat(),
        "published_at": plan.published_at.isoformat() if plan.published_at else None,
    }
