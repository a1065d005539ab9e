"""Entering scores (A2.3): input adapters, the evaluator's grid with drafts, and the scoring task.

Every score is entered through an indicator's *input adapter*: a number in 0–max (``range``, the
default), deduction items ticked off full marks (``deductions``), or a grade chosen from fixed
choices (``grades``). The grid saves drafts, which count for nothing; a submission counts at once.
When all of an evaluator's objects × manual indicators are submitted, their scoring task in the
``plan_scoring`` instance completes, from the grid or the API alike.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import sqlalchemy as sa

from app.extensions import db
from app.models import EvaluatorGroup, HumanTask, Indicator, Plan, PlanStatus, ScoreEntry, TaskStatus, Unit, User
from app.services import tasks
from app.services.errors import Conflict, Forbidden, Invalid, NotFound

SCORE_TASK = "score_plan"


def _plain(number: Decimal) -> str:
    return format(number.normalize(), "f")


# ----------------------------------------------------------------------------- who scores what

def group_of(plan: Plan, user: User) -> EvaluatorGroup | None:
    """The first of the plan's evaluator groups (in plan order) naming the user, their unit or a role."""
    for group in sorted(plan.evaluators, key=lambda g: g.position):
        if ((group.kind == "username" and group.ref == user.username)
                or (group.kind == "unit" and user.unit is not None and group.ref == user.unit.code)
                or (group.kind == "role" and group.ref in user.roles)):
            return group
    return None


def manual_leaves(plan: Plan) -> list[Indicator]:
    """The indicators evaluators score, in the plan's order (parents are summed, auto ones collected)."""
    return [i for i in plan.indicators if not i.children and i.method == "manual"]


def _plan(plan_id: int) -> Plan:
    plan = db.session.get(Plan, plan_id)
    if plan is None:
        raise NotFound("考核计划不存在")
    return plan


def _open_for_scoring(plan: Plan) -> None:
    if plan.status != PlanStatus.PUBLISHED:
        raise Conflict("计划尚未发布，不能评分")
    if plan.results_stage is not None:
        raise Conflict("考核结果已发布，评分不能再修改")


def evaluator_group(user: User, plan: Plan) -> EvaluatorGroup:
    group = group_of(plan, user)
    if group is None:
        raise Forbidden("您不是此考核计划的评估人")
    return group


# ----------------------------------------------------------------------------- input adapters

def _number(value: Any, key: str = "score") -> Decimal:
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise Invalid("分数须为数字", {key: ["须为数字。"]}) from None
    if not number.is_finite():
        raise Invalid("分数须为数字", {key: ["须为有限的数字。"]})
    return number


def _in_range(score: Decimal, maximum: Decimal, key: str = "score") -> Decimal:
    if not Decimal(0) <= score <= maximum:
        raise Invalid("分数超出范围", {key: [f"须在 0 到 {_plain(maximum)} 之间。"]})
    if score.as_tuple().exponent < -3:  # type: ignore[operator]
        raise Invalid("分数最多三位小数", {key: ["最多保留三位小数。"]})
    return score


def adapter_kind(indicator: Indicator) -> str:
    return str((indicator.input_adapter or {}).get("kind", "range"))


def score_from_input(indicator: Indicator, given: Mapping[str, Any]) -> tuple[Decimal, dict[str, Any] | None]:
    """A raw score (0–max) and what produced it, from ``score``, ``grade`` or ``deductions``.

    ``score`` is accepted for every adapter (for grades it must be one of the choices' scores);
    ``grade`` names a choice; ``deductions`` lists the ticked items' labels, and the score is full
    marks less their points, never below 0.
    """
    adapter = indicator.input_adapter or {"kind": "range"}
    maximum = indicator.max_score
    if adapter["kind"] == "grades":
        choices = {c["label"]: Decimal(c["score"]) for c in adapter["choices"]}
        if given.get("grade") not in (None, ""):
            label = str(given["grade"])
            if label not in choices:
                raise Invalid("等级不在可选范围内", {"grade": [f"须为 {'、'.join(choices)} 之一。"]})
            return choices[label], {"grade": label}
        score = _number(given.get("score"))
        matching = next((lbl for lbl, s in choices.items() if s == score), None)
        if matching is None:
            raise Invalid("分数不是可选等级的分值", {"score": [
                "须为以下之一：" + "、".join(f"{lbl} {_plain(s)}" for lbl, s in choices.items()) + "。"]})
        return score, {"grade": matching}
    if adapter["kind"] == "deductions" and given.get("deductions") is not None:
        ticked = given["deductions"]
        points = {item["label"]: Decimal(item["points"]) for item in adapter["items"]}
        if not isinstance(ticked, list) or any(str(t) not in points for t in ticked):
            raise Invalid("扣分项不存在", {"deductions": [f"须为 {'、'.join(points)} 中的若干项。"]})
        labels = sorted({str(t) for t in ticked}, key=list(points).index)
        return max(Decimal(0), maximum - sum((points[t] for t in labels), Decimal(0))), {"deductions": labels}
    if given.get("score") in (None, ""):
        raise Invalid("请填写分数", {"score": ["此项为必填项。"]})
    return _in_range(_number(given.get("score")), maximum), None


# ----------------------------------------------------------------------------- writing entries

def _entries(plan: Plan, user: User) -> dict[tuple[int, int], ScoreEntry]:
    rows = db.session.scalars(sa.select(ScoreEntry).where(
        ScoreEntry.plan_id == plan.id, ScoreEntry.evaluator_id == user.id))
    return {(e.object_id, e.indicator_id): e for e in rows}


def _put(plan: Plan, user: User, group: EvaluatorGroup, unit: Unit, indicator: Indicator, score: Decimal,
         detail: dict[str, Any] | None, submitted: bool, existing: ScoreEntry | None) -> ScoreEntry:
    entry = existing
    if entry is None:
        entry = ScoreEntry(plan_id=plan.id, object_id=unit.id, indicator_id=indicator.id, evaluator_id=user.id,
                           group_id=group.id, score=score, submitted=submitted, detail=detail)
        try:
            with db.session.begin_nested():
                db.session.add(entry)
        except sa.exc.IntegrityError:  # the same evaluator's other request got there first
            entry = db.session.scalars(sa.select(ScoreEntry).where(
                ScoreEntry.plan_id == plan.id, ScoreEntry.object_id == unit.id,
                ScoreEntry.indicator_id == indicator.id, ScoreEntry.evaluator_id == user.id)).one()
    entry.score, entry.detail, entry.group_id, entry.submitted = score, detail, group.id, submitted
    return entry


def submit_score(user: User, plan_id: int, payload: Any) -> ScoreEntry:
    """``POST /plans/<id>/scores``: one submitted score, replacing the evaluator's earlier one."""
    if not isinstance(payload, dict):
        raise Invalid("请求格式错误", {"body": ["须为 JSON 对象。"]})
    plan = _plan(plan_id)
    group = evaluator_group(user, plan)
    _open_for_scoring(plan)
    unit = next((o.unit for o in plan.objects if o.unit.code == str(payload.get("object"))), None)
    if unit is None:
        raise Invalid("考核对象不在计划中", {"object": [f"计划中没有考核对象 {payload.get('object')}。"]})
    indicator = _leaf(plan, payload.get("indicator"))
    score, detail = score_from_input(indicator, payload)
    existing = _entries(plan, user).get((unit.id, indicator.id))
    entry = _put(plan, user, group, unit, indicator, score, detail, True, existing)
    db.session.flush()
    finish_if_complete(user, plan)
    return entry


def _leaf(plan: Plan, code: Any) -> Indicator:
    indicator = next((i for i in plan.indicators if i.code == str(code)), None)
    if indicator is None:
        raise Invalid("指标不存在", {"indicator": [f"计划中没有指标 {code}。"]})
    if indicator.children:
        raise Invalid("只能为末级指标评分", {"indicator": [f"{indicator.name} 由下级指标得分汇总，不能直接评分。"]})
    if indicator.method != "manual":
        raise Invalid("自动指标不能手工评分", {"indicator": [f"{indicator.name} 由数据采集自动计分。"]})
    return indicator


# ----------------------------------------------------------------------------- the scoring task

def scoring_task(plan: Plan, user: User) -> HumanTask | None:
    """The evaluator's open scoring task in the plan's scoring round, if they have one."""
    if plan.scoring_instance_id is None:
        return None
    return db.session.scalar(sa.select(HumanTask).where(
        HumanTask.instance_id == plan.scoring_instance_id, HumanTask.bpmn_id == SCORE_TASK,
        HumanTask.assignee_id == user.id, HumanTask.status == TaskStatus.OPEN))


def submitted_count(plan: Plan, user: User) -> int:
    return int(db.session.scalar(sa.select(sa.func.count()).select_from(ScoreEntry).where(
        ScoreEntry.plan_id == plan.id, ScoreEntry.evaluator_id == user.id, ScoreEntry.submitted)) or 0)


def finish_if_complete(user: User, plan: Plan) -> bool:
    """Complete the evaluator's scoring task once every one of their cells is submitted."""
    task = scoring_task(plan, user)
    if task is None or submitted_count(plan, user) < len(plan.objects) * len(manual_leaves(plan)):
        return False
    tasks.complete(user, task.id, {}, from_page=True)
    return True


# ----------------------------------------------------------------------------- the grid

@dataclass
class Cell:
    unit: Unit
    indicator: Indicator
    entry: ScoreEntry | None


@dataclass
class Grid:
    plan: Plan
    group: EvaluatorGroup
    objects: list[Unit]
    indicators: list[Indicator]
    entries: dict[tuple[int, int], ScoreEntry]
    task: HumanTask | None

    @property
    def total_cells(self) -> int:
        return len(self.objects) * len(self.indicators)

    @property
    def submitted(self) -> int:
        return sum(1 for e in self.entries.values() if e.submitted)

    @property
    def drafts(self) -> int:
        return sum(1 for e in self.entries.values() if not e.submitted)

    def entry(self, unit: Unit, indicator: Indicator) -> ScoreEntry | None:
        return self.entries.get((unit.id, indicator.id))


def load_grid(user: User, plan_id: int) -> Grid:
    plan = _plan(plan_id)
    group = evaluator_group(user, plan)
    if plan.status != PlanStatus.PUBLISHED:
        raise Conflict("计划尚未发布，不能评分")
    return Grid(plan, group, [o.unit for o in plan.objects], manual_leaves(plan), _entries(plan, user),
                scoring_task(plan, user))


def cell_key(unit_id: int, indicator_id: int) -> str:
    return f"c-{unit_id}-{indicator_id}"


def save_grid(user: User, plan_id: int, cells: Mapping[str, Mapping[str, Any]], *, submit: bool) -> Grid:
    """Save the grid: drafts (any cells) or a submission (every cell, all counted at once).

    ``cells`` maps :func:`cell_key` to the cell's input (``score`` / ``grade`` / ``deductions``).
    Every bad cell is reported at once, keyed by its cell key, and nothing is saved. A cell already
    submitted is changed only by submitting again.
    """
    grid = load_grid(user, plan_id)
    _open_for_scoring(grid.plan)
    errors: dict[str, list[str]] = {}
    values: list[tuple[Unit, Indicator, Decimal, dict[str, Any] | None]] = []
    for unit in grid.objects:
        for indicator in grid.indicators:
            key = cell_key(unit.id, indicator.id)
            given = cells.get(key) or {}
            blank = all(given.get(k) in (None, "") for k in ("score", "grade")) and given.get("deductions") is None
            if blank:
                if submit:
                    errors[key] = ["提交前须填写此项。"]
                continue
            try:
                score, detail = score_from_input(indicator, given)
            except Invalid as exc:
                errors[key] = [m for messages in exc.errors.values() for m in messages]
                continue
            existing = grid.entry(unit, indicator)
            if not submit and existing is not None and existing.submitted:
                if existing.score != score or (existing.detail or None) != detail:
                    errors[key] = ["此项已提交，修改后须点“提交评分”。"]
                continue
            values.append((unit, indicator, score, detail))
    if errors:
        raise Invalid("评分表有未填或填写有误的项" if submit else "评分表填写有误", errors)
    for unit, indicator, score, detail in values:
        grid.entries[(unit.id, indicator.id)] = _put(grid.plan, user, grid.group, unit, indicator, score, detail,
                                                     submit, grid.entry(unit, indicator))
    db.session.flush()
    if submit:
        finish_if_complete(user, grid.plan)
        grid.task = scoring_task(grid.plan, user)
    return grid
