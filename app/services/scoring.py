"""Score entry and results (A2.3, A2.5, A2.8) on top of the documented method (``app.scoring.method``).

Who evaluates: a user belongs to the first of a plan's evaluator groups (in plan order) that names
their username, their unit or one of their roles; their scores count for that group only.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import sqlalchemy as sa

from app.extensions import db
from app.models import EvaluatorGroup, Indicator, Plan, PlanStatus, Role, ScoreEntry, User
from app.scoring import method
from app.services import collection
from app.services.errors import Conflict, Forbidden, Invalid, NotFound

RESULT_VIEWERS = (Role.ADMIN, Role.ASSESSMENT_MANAGER, Role.REVIEWER, Role.LEADER)
SHOWN = Decimal("0.01")  # indicator scores are shown to 0.01; totals come from unrounded scores


def group_of(plan: Plan, user: User) -> EvaluatorGroup | None:
    for group in sorted(plan.evaluators, key=lambda g: g.position):
        if ((group.kind == "username" and group.ref == user.username)
                or (group.kind == "unit" and user.unit is not None and group.ref == user.unit.code)
                or (group.kind == "role" and group.ref in user.roles)):
            return group
    return None


def _plan(plan_id: int) -> Plan:
    plan = db.session.get(Plan, plan_id)
    if plan is None:
        raise NotFound("考核计划不存在")
    return plan


def _leaf(plan: Plan, code: Any) -> Indicator:
    indicator = next((i for i in plan.indicators if i.code == str(code)), None)
    if indicator is None:
        raise Invalid("指标不存在", {"indicator": [f"计划中没有指标 {code}。"]})
    if indicator.children:
        raise Invalid("只能为末级指标评分", {"indicator": [f"{indicator.name} 由下级指标得分汇总，不能直接评分。"]})
    if indicator.method != "manual":
        raise Invalid("自动指标不能手工评分", {"indicator": [f"{indicator.name} 由数据采集自动计分。"]})
    return indicator


def _score(value: Any, maximum: Decimal) -> Decimal:
    try:
        score = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise Invalid("分数须为数字", {"score": ["须为数字。"]}) from None
    if not score.is_finite() or not Decimal(0) <= score <= maximum:
        raise Invalid("分数超出范围", {"score": [f"须在 0 到 {format(maximum.normalize(), 'f')} 之间。"]})
    if score.as_tuple().exponent < -3:  # type: ignore[operator]
        raise Invalid("分数最多三位小数", {"score": ["最多保留三位小数。"]})
    return score


def submit_score(user: User, plan_id: int, payload: Any) -> ScoreEntry:
    """Record an evaluator's score; posting again for the same object × indicator replaces it."""
    if not isinstance(payload, dict):
        raise Invalid("请求格式错误", {"body": ["须为 JSON 对象。"]})
    plan = _plan(plan_id)
    group = group_of(plan, user)
    if group is None:
        raise Forbidden("您不是此考核计划的评估人")
    if plan.status != PlanStatus.PUBLISHED:
        raise Conflict("计划尚未发布，不能评分")
    target = next((o.unit for o in plan.objects if o.unit.code == str(payload.get("object"))), None)
    if target is None:
        raise Invalid("考核对象不在计划中", {"object": [f"计划中没有考核对象 {payload.get('object')}。"]})
    indicator = _leaf(plan, payload.get("indicator"))
    score = _score(payload.get("score"), indicator.max_score)
    entry = db.session.scalar(sa.select(ScoreEntry).where(
        ScoreEntry.plan_id == plan.id, ScoreEntry.object_id == target.id,
        ScoreEntry.indicator_id == indicator.id, ScoreEntry.evaluator_id == user.id))
    if entry is None:
        entry = ScoreEntry(plan_id=plan.id, object_id=target.id, indicator_id=indicator.id, evaluator_id=user.id,
                           group_id=group.id, score=score)
        try:
            with db.session.begin_nested():
                db.session.add(entry)
        except sa.exc.IntegrityError:  # the same evaluator's other request got there first
            entry = db.session.scalars(sa.select(ScoreEntry).where(
                ScoreEntry.plan_id == plan.id, ScoreEntry.object_id == target.id,
                ScoreEntry.indicator_id == indicator.id, ScoreEntry.evaluator_id == user.id)).one()
    entry.score, entry.group_id, entry.submitted = score, group.id, True
    db.session.flush()
    return entry


# ----------------------------------------------------------------------------- results

@dataclass
class PlanResults:
    plan: Plan
    results: list[method.ObjectResult]
    evidence: dict[tuple[str, str], list[dict[str, Any]]]   # (object, indicator) → entries
    complete: bool


def _tree(indicators: list[Indicator]) -> list[method.IndicatorDef]:
    def build(node: Indicator) -> method.IndicatorDef:
        return method.IndicatorDef(node.code, node.weight, node.max_score, node.method,
                                   tuple(build(c) for c in node.children))
    return [build(i) for i in indicators if i.parent_id is None]


def compute(plan: Plan) -> PlanResults:
    """Every object's result from the submitted entries, exactly as the documented method says."""
    tree = _tree(plan.indicators)
    weights = {str(g.id): g.weight for g in plan.evaluators}
    codes = {i.id: i.code for i in plan.indicators}
    manual: dict[str, dict[str, dict[str, list[Decimal]]]] = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    evidence: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    entries = db.session.scalars(sa.select(ScoreEntry).where(ScoreEntry.plan_id == plan.id, ScoreEntry.submitted)
                                 .order_by(ScoreEntry.id)).all()
    objects = {o.unit.id: o.unit.code for o in plan.objects}
    for entry in entries:
        obj, code = objects.get(entry.object_id), codes.get(entry.indicator_id)
        if obj is None or code is None:
            continue
        manual[obj][code][str(entry.group_id)].append(entry.score)
        evidence[(obj, code)].append({
            "kind": "entry", "evaluator": entry.evaluator.username, "evaluator_name": entry.evaluator.name,
            "group": entry.group_id, "score": format(entry.score.normalize(), "f"),
            "at": entry.updated_at.isoformat()})
    auto, collected = collection.collected_scores(plan)   # automatic leaves: latest ok collection run
    for key, items in collected.items():
        evidence[key].extend(items)
    bands = [method.PaymentBand(Decimal(b["min"]), Decimal(b["ratio"])) for b in plan.payment_bands or []]
    results = [method.score_object(code, tree, manual.get(code, {}), auto.get(code, {}), weights, bands=bands)
               for code in objects.values()]
    method.rank(results)
    return PlanResults(plan, results, evidence, complete=all(not r.incomplete for r in results))


def results_for(user: User, plan_id: int) -> PlanResults:
    """Staff see every object; an assessed unit sees only its own row; others are refused."""
    plan = _plan(plan_id)
    computed = compute(plan)
    if user.has_role(*RESULT_VIEWERS):
        return computed
    own = user.unit.code if user.unit is not None else None
    if user.has_role(Role.ASSESSED_UNIT) and own in {o.unit.code for o in plan.objects}:
        computed.results = [r for r in computed.results if r.object == own]
        return computed
    raise Forbidden("无权查看此计划的考核结果")


def _shown(value: Decimal | None, places: Decimal = SHOWN) -> str | None:
    return None if value is None else format(value.quantize(places), "f")


def result_dict(result: method.ObjectResult, evidence: dict[tuple[str, str], list[dict[str, Any]]]) -> dict[str, Any]:
    flat: list[dict[str, Any]] = []

    def walk(scores: list[method.IndicatorScore]) -> None:
        for s in scores:
            flat.append({"code": s.code, "score": _shown(s.score), "incomplete": s.incomplete,
                         "group_scores": {g: _shown(v) for g, v in s.group_scores.items()},
                         "renormalised": s.renormalised, "evidence": evidence.get((result.object, s.code), [])})
            walk(s.children)

    walk(result.indicators)
    return {
        "object": result.object, "incomplete": result.incomplete,
        "total": _shown(result.total, Decimal("0.1")), "grade": result.grade, "rank": result.rank,
        "payment_ratio": None if result.payment_ratio is None else format(result.payment_ratio.normalize(), "f"),
        "indicators": flat,
    }
