"""What the results pages show (A2.8–A2.10): a plan's table and drill-down, one unit across plans,
and the public page. Computing is ``scoring.compute``; who may see what is decided here and there.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from app.extensions import db
from app.i18n import N_
from app.models import EvaluatorGroup, Indicator, Plan, PlanObject, Role, Unit, User
from app.scoring import method
from app.services import scoring, scoring_round
from app.services.errors import Forbidden, NotFound
from app.services.plans import STAFF_ROLES

FINAL = "final"
STAGE_LABELS = {"preliminary": N_("初步结果"), FINAL: N_("最终结果")}
# The method's default grades, marked for translation; the badge colour of each.
GRADE_STYLES = {N_("优秀"): "success", N_("良好"): "primary", N_("合格"): "secondary", N_("不合格"): "danger"}


@dataclass
class Row:
    """One object's line in a results table."""
    code: str
    name: str
    result: method.ObjectResult
    top: dict[str, Decimal | None] = field(default_factory=dict)   # top-level indicator → score


@dataclass
class PlanView:
    plan: Plan
    rows: list[Row]            # by rank; incomplete objects last
    restricted: bool           # the viewer sees only their own row
    complete: bool
    top_indicators: list[Indicator]


@dataclass
class Line:
    """One indicator of an object's drill-down."""
    indicator: Indicator
    level: int
    score: method.IndicatorScore
    evidence: list[dict[str, Any]]


@dataclass
class ObjectView:
    plan: Plan
    unit: Unit
    result: method.ObjectResult
    lines: list[Line]
    groups: list[EvaluatorGroup]
    unit_names: dict[str, str]   # code → name, for groups that name a unit
    may_appeal: bool = False     # the viewer is this unit, within the appeal window


def _rows(plan: Plan, results: list[method.ObjectResult]) -> list[Row]:
    names = {o.unit.code: o.unit.name for o in plan.objects}
    ordered = sorted(results, key=lambda r: (r.rank is None, r.rank or 0, r.object))
    return [Row(r.object, names.get(r.object, r.object), r, {s.code: s.score for s in r.indicators})
            for r in ordered]


def plan_view(user: User, plan_id: int) -> PlanView:
    computed = scoring.results_for(user, plan_id)
    plan = computed.plan
    return PlanView(plan, _rows(plan, computed.results), computed.restricted, computed.complete,
                    plan.top_indicators)


def _when(item: dict[str, Any]) -> dict[str, Any]:
    """Evidence carries ISO times (as in the API); the page shows them in Beijing time."""
    at = item.get("at")
    return {**item, "at": datetime.fromisoformat(at)} if isinstance(at, str) else item


def object_view(user: User, plan_id: int, code: str) -> ObjectView:
    """One object's indicator tree with every score behind it; evidence for this object only."""
    plan = scoring.get_plan(plan_id)
    unit = next((o.unit for o in plan.objects if o.unit.code == code), None)
    if unit is None:
        raise NotFound("考核对象不在计划中")
    shown = scoring.visible_objects(user, plan)
    if shown is not None and code not in shown:
        raise Forbidden("无权查看此考核对象的结果")
    computed = scoring.compute(plan)
    result = next(r for r in computed.results if r.object == code)
    evidence = scoring.evidence_for(computed, [code])
    by_code = {i.code: i for i in plan.indicators}
    lines: list[Line] = []

    def walk(scores: list[method.IndicatorScore], level: int) -> None:
        for s in scores:
            lines.append(Line(by_code[s.code], level, s, [_when(e) for e in evidence.get((code, s.code), [])]))
            walk(s.children, level + 1)

    walk(result.indicators, 0)
    unit_codes = [g.ref for g in plan.evaluators if g.kind == "unit"]
    unit_names = dict(db.session.execute(sa.select(Unit.code, Unit.name).where(Unit.code.in_(unit_codes))).all())
    may_appeal = (user.has_role(Role.ASSESSED_UNIT) and user.unit_id == unit.id
                  and scoring_round.appeal_window_open(plan))
    return ObjectView(plan, unit, result, lines, list(plan.evaluators), unit_names, may_appeal)


def may_see_results(user: User, plan: Plan) -> bool:
    try:
        scoring.visible_objects(user, plan)
    except Forbidden:
        return False
    return True


# ----------------------------------------------------------------------------- one unit across plans

def _unit(code: str) -> Unit:
    unit = db.session.scalar(sa.select(Unit).where(Unit.code == code))
    if unit is None:
        raise NotFound("单位不存在")
    return unit


def may_see_unit(user: User, code: str) -> bool:
    own = user.unit is not None and user.unit.code == code
    return user.has_role(*STAFF_ROLES) or (user.has_role(Role.ASSESSED_UNIT) and own)


def unit_history(user: User, code: str) -> tuple[Unit, list[dict[str, Any]]]:
    """A unit's published results, plan by plan in period order (vertical comparison).

    Staff see any unit; an assessed unit sees only its own; anyone else is refused.
    """
    unit = _unit(code)
    if not may_see_unit(user, code):
        raise Forbidden("无权查看此单位的考核结果")
    plans = db.session.scalars(
        sa.select(Plan).join(PlanObject, PlanObject.plan_id == Plan.id)
        .where(PlanObject.unit_id == unit.id, Plan.results_stage.in_(scoring.PUBLISHED_STAGES))
        .order_by(Plan.period_start, Plan.id))
    items = []
    for plan in plans:
        result = next(r for r in scoring.compute(plan).results if r.object == code)
        summary = scoring.summary_dict(result)
        items.append({"plan": plan.id, "plan_name": plan.name, "period_start": plan.period_start.isoformat(),
                      "period_end": plan.period_end.isoformat(), "results_stage": plan.results_stage,
                      **{k: summary[k] for k in ("total", "grade", "rank", "payment_ratio", "incomplete")}})
    return unit, items


# ----------------------------------------------------------------------------- public

def public_plans() -> list[Plan]:
    """Plans whose final results are public, newest period first."""
    return list(db.session.scalars(sa.select(Plan).where(Plan.public.is_(True), Plan.results_stage == FINAL)
                                   .order_by(Plan.period_start.desc(), Plan.id.desc())))


def public_view(plan_id: int) -> PlanView:
    """Totals, grades and ranks of a public plan's final results; any other plan does not exist here."""
    plan = db.session.get(Plan, plan_id)
    if plan is None or not plan.public or plan.results_stage != FINAL:
        raise NotFound("没有公开的考核结果")
    computed = scoring.compute(plan)
    return PlanView(plan, _rows(plan, computed.results), False, computed.complete, plan.top_indicators)
