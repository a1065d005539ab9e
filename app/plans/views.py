"""Plan pages: list, draft editor, detail, submit for approval."""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user, login_required

from app.database import write_transaction
from app.extensions import db
from app.inbox import context
from app.models import DataSource, HumanTask, Plan, PlanChange, PlanStatus, Role, TaskStatus, Unit, User
from app.plans import bp, rows
from app.scoring import library
from app.services import plan_changes, results, score_entry
from app.services import plans as plan_service
from app.services.errors import Invalid, ServiceError

EMPTY = rows.PlanRows(fields={"cycle": "year"}, indicators=[], evaluators=[], objects=[])


def _editor(plan_rows: rows.PlanRows, plan: Plan | None, errors: dict[str, list[str]] | None = None,
            status: int = 200, row_problems: dict[int, list[str]] | None = None,
            template: dict[str, Any] | None = None) -> ResponseReturnValue:
    by_row, other = rows.row_errors(plan_rows, errors or {})
    for index, messages in (row_problems or {}).items():
        by_row.setdefault(index, []).extend(messages)
    units = db.session.scalars(sa.select(Unit).where(Unit.active.is_(True)).order_by(Unit.kind, Unit.code)).all()
    names = db.session.scalars(sa.select(DataSource.name).order_by(DataSource.name)).all()
    return render_template("plans/edit.html", rows=plan_rows, plan=plan, row_errors=by_row, errors=other,
                           units=units, cycle_labels=plan_service.CYCLE_LABELS, datasource_names=names,
                           templates=library.list_templates() if plan is None else [], template=template), status


@bp.route("/")
@login_required
def index() -> ResponseReturnValue:
    return render_template("plans/index.html", plans=plan_service.list_plans(current_user),
                           status_labels=plan_service.STATUS_LABELS, cycle_labels=plan_service.CYCLE_LABELS)


@bp.route("/new", methods=["GET", "POST"])
@login_required
def new() -> ResponseReturnValue:
    if not current_user.has_role(Role.ASSESSMENT_MANAGER):
        abort(403)
    if request.method == "GET":
        key = request.args.get("template")
        if not key:
            return _editor(EMPTY, None)
        try:
            template = library.load_template(key)
        except library.TemplateNotFound:
            abort(404)
        return _editor(rows.from_template(template), None, template=template)
    plan_rows = rows.from_form(request.form)
    if problems := rows.row_problems(plan_rows):
        return _editor(plan_rows, None, status=422, row_problems=problems)
    try:
        with write_transaction():
            plan = plan_service.create_plan(current_user, rows.to_payload(plan_rows))
    except Invalid as exc:
        return _editor(plan_rows, None, exc.errors, 422)
    except ServiceError as exc:
        abort(exc.status)
    flash(_("计划草稿已保存。"), "success")
    return redirect(url_for("plans.show", plan_id=plan.id))


def _load(plan_id: int) -> Plan:
    try:
        return plan_service.get_plan(current_user, plan_id)
    except ServiceError as exc:
        abort(exc.status)


@bp.route("/<int:plan_id>")
@login_required
def show(plan_id: int) -> ResponseReturnValue:
    plan = _load(plan_id)
    revise_task = None
    if plan.instance_id:
        revise_task = db.session.scalar(sa.select(HumanTask).where(
            HumanTask.instance_id == plan.instance_id, HumanTask.status == TaskStatus.OPEN))
    published = plan.status == PlanStatus.PUBLISHED
    return render_template("plans/show.html", plan=plan, open_task=revise_task,
                           status_labels=plan_service.STATUS_LABELS, cycle_labels=plan_service.CYCLE_LABELS,
                           may_edit=plan_service.may_edit(current_user, plan),
                           evaluator=published and score_entry.group_of(plan, current_user) is not None,
                           changes=plan_changes.changes_of(plan),
                           may_request_change=(published and plan.results_stage is None
                                               and current_user.has_role(Role.ASSESSMENT_MANAGER)),
                           may_publish=published and current_user.has_role(Role.ASSESSMENT_MANAGER, Role.ADMIN),
                           may_see_results=results.may_see_results(current_user, plan))


@bp.route("/<int:plan_id>/edit", methods=["GET", "POST"])
@login_required
def edit(plan_id: int) -> ResponseReturnValue:
    plan = _load(plan_id)
    if not plan_service.may_edit(current_user, plan):
        abort(403)
    if not plan.editable:
        flash(_("计划已提交审核或已发布，不能修改。"), "warning")
        return redirect(url_for("plans.show", plan_id=plan.id))
    if request.method == "GET":
        return _editor(rows.from_plan(plan), plan)
    plan_rows = rows.from_form(request.form)
    if problems := rows.row_problems(plan_rows):
        return _editor(plan_rows, plan, status=422, row_problems=problems)
    try:
        with write_transaction():
            plan_service.update_plan(current_user, plan, rows.to_payload(plan_rows))
    except Invalid as exc:
        return _editor(plan_rows, plan, exc.errors, 422)
    except ServiceError as exc:
        flash(exc.message, "warning")
        return redirect(url_for("plans.show", plan_id=plan.id))
    flash(_("计划已保存。"), "success")
    return redirect(url_for("plans.show", plan_id=plan.id))


@bp.route("/<int:plan_id>/submit", methods=["POST"])
@login_required
def submit(plan_id: int) -> ResponseReturnValue:
    plan = _load(plan_id)
    try:
        with write_transaction():
            plan_service.submit_plan(current_user, plan)
        flash(_("已提交审核。"), "success")
    except ServiceError as exc:
        if exc.status == 403:
            abort(403)
        flash(exc.message, "warning")
    return redirect(url_for("plans.show", plan_id=plan_id))


@context.panel("plan")
def _plan_panel(user: User, plan_id: int) -> dict[str, Any]:
    """Beside a plan's approval tasks: the plan."""
    return {"plan": plan_service.get_plan(user, plan_id), "panels": ["plans/_summary.html"]}


@context.panel("plan_change")
def _change_panel(user: User, change_id: int) -> dict[str, Any]:
    """Beside a change review: the change, field by field, then the plan it changes."""
    change = db.session.get(PlanChange, change_id)
    if change is None:
        return {}
    return {"plan": plan_service.get_plan(user, change.plan_id), "change": change,
            "change_rows": plan_changes.diff(change), "panels": ["plans/_change_panel.html", "plans/_summary.html"]}
