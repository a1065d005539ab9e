"""Results (A2.5, A2.8) on top of the documented method (``app.scoring.method``).

Scores are entered through ``app.services.score_entry``; only submitted entries count here.
Automatic indicators take their values from ``app.services.collection``.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from app.extensions import db
from app.models import Indicator, Plan, Role, ScoreEntry, User
from app.scoring import method
from app.services import appeals, collection
from app.services.errors import Forbidden, NotFound

SHOWN = Decimal("0.01")  # indicator scores are shown to 0.01; totals come from unrounded scores


def get_plan(plan_id: int) -> Plan:
    plan = db.session.get(Plan, plan_id)
    if plan is None:
        raise NotFound("考核计划不存在")
    return plan


# ----------------------------------------------------------------------------- results

STAFF = (Role.ADMIN, Role.ASSESSMENT_MANAGER, Role.REVIEWER)   # see results at any time
PUBLISHED_STAGES = ("preliminary", "final")                    # Plan.results_stage once published
Evidence = dict[tuple[str, str], list[dict[str, Any]]]          # (object, indicator) → entries
# Each member's raw score in thousandths (scores have at most three decimals): summing integers is
# exact on every database, where SQLite's SUM/AVG of NUMERIC would be floating point.
_THOUSANDTHS = sa.cast(sa.func.round(ScoreEntry.score * 1000), sa.Integer)


@dataclass
class PlanResults:
    plan: Plan
    results: list[method.ObjectResult]
    complete: bool
    # Evidence that comes with the scores (collection); evaluators' entries are read on demand
    # by ``evidence_for``, for the rows being shown only.
    auto_evidence: Evidence = field(default_factory=dict)
    restricted: bool = False   # ``results`` holds only the rows the viewer may see


def _tree(indicators: list[Indicator]) -> list[method.IndicatorDef]:
    # Built from parent_id in memory: walking Indicator.children would load each level lazily.
    children: dict[int | None, list[Indicator]] = defaultdict(list)
    for indicator in sorted(indicators, key=lambda i: i.position):
        children[indicator.parent_id].append(indicator)

    def build(node: Indicator) -> method.IndicatorDef:
        return method.IndicatorDef(node.code, node.weight, node.max_score, node.method,
                                   tuple(build(c) for c in children[node.id]))
    return [build(i) for i in children[None]]


Tallies = dict[str, dict[str, dict[str, method.Tally]]]   # object → indicator → group → tally


def _tallies(plan: Plan, objects: dict[int, str], codes: dict[int, str]) -> Tallies:
    """object → indicator → group → the sum and count of its members' submitted scores.

    One aggregate, one row per object × indicator with the groups side by side: SQLite streams it
    in the order of the unique index (plan, object, indicator, evaluator) instead of sorting, and
    PostgreSQL hashes a third as many groups. The entries themselves are never loaded.
    """
    groups = [g.id for g in plan.evaluators]
    columns: list[sa.ColumnElement[Any]] = []
    for group_id in groups:
        mine = ScoreEntry.group_id == group_id
        columns += [sa.func.sum(sa.case((mine, _THOUSANDTHS))), sa.func.count(sa.case((mine, 1)))]
    query = (sa.select(ScoreEntry.object_id, ScoreEntry.indicator_id, *columns)
             .where(ScoreEntry.plan_id == plan.id, ScoreEntry.submitted)
             .group_by(ScoreEntry.object_id, ScoreEntry.indicator_id))
    tallies: Tallies = {}
    keys = [str(g) for g in groups]
    for row in db.session.connection().execute(query):
        obj, code = objects.get(row[0]), codes.get(row[1])
        if obj is None or code is None:   # entries of objects or indicators since removed
            continue
        by_group = tallies.setdefault(obj, {}).setdefault(code, {})
        for k, key in enumerate(keys):
            if count := row[3 + 2 * k]:
                by_group[key] = method.Tally(Decimal(row[2 + 2 * k]).scaleb(-3), count)
    return tallies


def compute(plan: Plan) -> PlanResults:
    """Every object's result from the submitted entries, exactly as the documented method says."""
    tree = _tree(plan.indicators)
    weights = {str(g.id): g.weight for g in plan.evaluators}
    codes = {i.id: i.code for i in plan.indicators}
    objects = {o.unit.id: o.unit.code for o in plan.objects}
    manual = _tallies(plan, objects, codes)
    # Automatic indicators: object → indicator → raw score from the latest ok collection run, and
    # the evidence behind each (or why there is none: the indicator then stays incomplete).
    auto, auto_evidence = collection.collected_scores(plan)
    bands = [method.PaymentBand(Decimal(b["min"]), Decimal(b["ratio"])) for b in plan.payment_bands or []]
    results = [method.score_object(code, tree, manual.get(code, {}), auto.get(code, {}), weights, bands=bands)
               for code in objects.values()]
    method.rank(results)
    return PlanResults(plan, results, complete=all(not r.incomplete for r in results), auto_evidence=auto_evidence)


def evidence_for(computed: PlanResults, objects: Collection[str] | None = None) -> Evidence:
    """The evidence behind the shown rows: each evaluator's submitted entry (one query), then the
    collection evidence ``compute`` produced. ``objects=None`` means every object of the plan."""
    plan = computed.plan
    codes = {i.id: i.code for i in plan.indicators}
    units = {o.unit.id: o.unit.code for o in plan.objects if objects is None or o.unit.code in objects}
    query = (sa.select(ScoreEntry.object_id, ScoreEntry.indicator_id, ScoreEntry.group_id, ScoreEntry.score,
                       ScoreEntry.updated_at, User.username, User.name)
             .join(User, User.id == ScoreEntry.evaluator_id)
             .where(ScoreEntry.plan_id == plan.id, ScoreEntry.submitted)
             .order_by(ScoreEntry.id))
    if objects is not None:
        query = query.where(ScoreEntry.object_id.in_(list(units)))
    evidence: Evidence = defaultdict(list)
    for object_id, indicator_id, group_id, raw, at, username, name in db.session.connection().execute(query):
        obj, code = units.get(object_id), codes.get(indicator_id)
        if obj is not None and code is not None:
            evidence[(obj, code)].append({
                "kind": "entry", "evaluator": username, "evaluator_name": name, "group": group_id,
                "score": format(raw.normalize(), "f"), "at": at.isoformat()})
    shown = set(units.values())
    for key, items in computed.auto_evidence.items():
        if key[0] in shown:
            evidence[key].extend(items)
    for key, items in appeals.evidence(plan, shown).items():   # appeals and re-evaluations behind a score
        evidence[key].extend(items)
    return evidence


def results_published(plan: Plan) -> bool:
    return plan.results_stage in PUBLISHED_STAGES


def visible_objects(user: User, plan: Plan) -> set[str] | None:
    """The objects whose results ``user`` may see (None: all of them).

    Admins, assessment managers and reviewers: always. Leaders: once results are published. An
    assessed unit: its own row, once published. Anyone else is refused.
    """
    if user.has_role(*STAFF) or (user.has_role(Role.LEADER) and results_published(plan)):
        return None
    own = user.unit.code if user.unit is not None else None
    if (user.has_role(Role.ASSESSED_UNIT) and results_published(plan)
            and own in {o.unit.code for o in plan.objects}):
        return {own} if own is not None else set()
    raise Forbidden("无权查看此计划的考核结果")


def results_for(user: User, plan_id: int) -> PlanResults:
    """The plan's results as ``user`` may see them (see ``visible_objects``)."""
    plan = get_plan(plan_id)
    shown = visible_objects(user, plan)   # refuse before computing anything
    computed = compute(plan)
    if shown is not None:
        computed.results = [r for r in computed.results if r.object in shown]
        computed.restricted = True
    return computed


def shown(value: Decimal | None, places: Decimal = SHOWN) -> str | None:
    return None if value is None else format(value.quantize(places), "f")


def plain(value: Decimal | None) -> str | None:
    return None if value is None else format(value.normalize(), "f")


def summary_dict(result: method.ObjectResult) -> dict[str, Any]:
    """An object's row without the indicators: total (to 0.1), grade, rank, fee payment ratio."""
    return {"object": result.object, "incomplete": result.incomplete,
            "total": shown(result.total, method.TENTH), "grade": result.grade, "rank": result.rank,
            "payment_ratio": plain(result.payment_ratio)}


def result_dict(result: method.ObjectResult, evidence: Evidence) -> dict[str, Any]:
    flat: list[dict[str, Any]] = []

    def walk(scores: list[method.IndicatorScore]) -> None:
        for s in scores:
            flat.append({"code": s.code, "score": shown(s.score), "incomplete": s.incomplete,
                         "group_scores": {g: shown(v) for g, v in s.group_scores.items()},
                         "renormalised": s.renormalised, "evidence": evidence.get((result.object, s.code), [])})
            walk(s.children)

    walk(result.indicators)
    return {**summary_dict(result), "indicators": flat}
