"""Scoring pages: the evaluator's score-entry grid and the office's publication of results."""
from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user, login_required
from werkzeug.datastructures import MultiDict

from app.database import write_transaction
from app.plans import bp
from app.services import appeals, score_entry, scoring, scoring_round
from app.services import tasks as task_service
from app.services.errors import Conflict, Invalid, ServiceError
from app.services.score_entry import Grid, adapter_kind, cell_key

DEDUCTION_MARK = ":deductions"   # a deduction cell's hidden marker; its ticked items follow as ``key:item``


def _cells(grid: Grid, form: MultiDict[str, str]) -> dict[str, dict[str, Any]]:
    """The grid's form fields → each cell's input, as the service takes it."""
    cells: dict[str, dict[str, Any]] = {}
    for unit in grid.objects:
        for indicator in grid.indicators:
            key = cell_key(unit.id, indicator.id)
            kind = adapter_kind(indicator)
            if kind == "deductions":
                if key + DEDUCTION_MARK in form:
                    cells[key] = {"deductions": form.getlist(key + ":item")}
            elif kind == "grades":
                cells[key] = {"grade": form.get(key, "")}
            else:
                cells[key] = {"score": form.get(key, "")}
    return cells


@bp.route("/<int:plan_id>/score", methods=["GET", "POST"])
@login_required
def score_grid(plan_id: int) -> ResponseReturnValue:
    """The evaluator's grid: their objects × manual indicators; drafts, then one submission."""
    try:
        grid = score_entry.load_grid(current_user, plan_id)
    except Conflict as exc:
        flash(exc.message, "warning")
        return redirect(url_for("plans.show", plan_id=plan_id))
    except ServiceError as exc:
        abort(exc.status)
    errors: dict[str, list[str]] = {}
    given: dict[str, dict[str, Any]] = {}
    if request.method == "POST":
        submit = request.form.get("action") == "submit"
        given = _cells(grid, request.form)
        try:
            with write_transaction():
                grid = score_entry.save_grid(current_user, plan_id, given, submit=submit)
        except Invalid as exc:
            errors = exc.errors
            flash(_("%(message)s：%(count)d 项需要处理，已用红色标出；未保存任何内容。",
                    message=exc.message, count=len(errors)), "danger")
        except ServiceError as exc:
            flash(exc.message, "warning")
            return redirect(url_for("plans.score_grid", plan_id=plan_id))
        else:
            flash(_("评分已提交。") if submit else _("草稿已保存，提交前不计入结果。"), "success")
            return redirect(url_for("plans.score_grid", plan_id=plan_id))
    return render_template("plans/score_grid.html", grid=grid, errors=errors, given=given, cell_key=cell_key,
                           adapter_kind=adapter_kind, mark=DEDUCTION_MARK), 422 if errors else 200


@bp.route("/tasks/<int:task_id>")
@login_required
def score_task(task_id: int) -> ResponseReturnValue:
    """Where a scoring-round task is worked: the grid for an evaluator, the publication page for the office."""
    try:
        task = task_service.get_task(current_user, task_id)
        plan_id = scoring_round.plan_of_task(task)
    except ServiceError as exc:
        abort(exc.status)
    if task.bpmn_id in (scoring_round.PUBLISH_TASK, scoring_round.FINAL_TASK):
        return redirect(url_for("plans.publish", plan_id=plan_id))
    return redirect(url_for("plans.score_grid", plan_id=plan_id))


@bp.route("/<int:plan_id>/publish", methods=["GET", "POST"])
@login_required
def publish(plan_id: int) -> ResponseReturnValue:
    """The office publishes the results: preliminary (with the appeal window), then final."""
    try:
        plan = scoring_round.plan_for_publication(current_user, plan_id)
    except ServiceError as exc:
        abort(exc.status)
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        payload = {k: request.form.get(k) for k in ("stage", "appeal_days", "appeal_deadline")}
        # The form offers working days or a date; only the chosen one counts.
        payload["appeal_days" if request.form.get("window") == "deadline" else "appeal_deadline"] = None
        try:
            with write_transaction():
                snapshot = scoring_round.publish_results(current_user, plan_id, payload)
        except Invalid as exc:
            errors = exc.errors
            flash(exc.message, "danger")
        except ServiceError as exc:
            flash(exc.message, "danger")
            return redirect(url_for("plans.publish", plan_id=plan_id))
        else:
            flash(_("初步结果已发布，申诉期已开始。") if snapshot.stage == "preliminary" else _("最终结果已发布。"),
                  "success")
            return redirect(url_for("plans.show", plan_id=plan_id))
    computed = scoring.compute(plan)
    return render_template("plans/publish.html", plan=plan, computed=computed, errors=errors,
                           task=scoring_round.publish_task(plan), final_task=scoring_round.final_task(plan),
                           window_open=scoring_round.appeal_window_open(plan),
                           appeals=appeals.list_appeals(current_user, plan.id),
                           appeal_labels=appeals.STATUS_LABELS,
                           progress=scoring_round.progress(plan)), 422 if errors else 200
