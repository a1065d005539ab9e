"""Results (A2.5, A2.8) on top of the documented method (``app.scoring.method``).

Scores are entered through ``app.services.score_entry``; only submitted entries count here.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from app.extensions import db
from app.models import Indicator, Plan, Role, ScoreEntry, User
from app.scoring import method
from app.services import collection
from app.services.errors import Forbidden, NotFound

RESULT_VIEWERS = (Role.ADMIN, Role.ASSESSMENT_MANAGER, Role.REVIEWER, Role.LEADER)
SHOWN = Decimal("0.01")  # indicator scores are shown to 0.01; totals come from unrounded scores


def _plan(plan_id: int) -> Plan:
    plan = db.session.get(Plan, plan_id)
    if plan is None:
        raise NotFound("考核计划不存在")
    return plan


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
