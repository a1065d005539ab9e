"""我的待办 / 组待办 / 已办, the task page and its form."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user, login_required

from app.database import write_transaction
from app.extensions import db
from app.formspec import build_form_class, cleaned_data
from app.i18n import N_
from app.inbox import bp
from app.models import PlanChange
from app.services import change_orders, meetings, plan_changes, plans
from app.services import tasks as task_service
from app.services.errors import Conflict, Invalid, ServiceError
from app.workflow.runtime import registry

SCOPE_LABELS = {"mine": N_("我的待办"), "candidate": N_("组待办"), "done": N_("已办")}


@bp.route("/")
@login_required
def home() -> ResponseReturnValue:
    return redirect(url_for("inbox.index"))


@bp.route("/inbox")
@login_required
def index() -> ResponseReturnValue:
    scope = request.args.get("scope", "mine")
    if scope not in SCOPE_LABELS:
        abort(404)
    task_filter = task_service.TaskFilter(
        scope=scope, process=request.args.get("process") or None, overdue=request.args.get("overdue") == "1",
        q=(request.args.get("q") or "").strip() or None, cursor=request.args.get("cursor") or None,
        limit=current_app.config["INBOX_PAGE_SIZE"],
    )
    try:
        page = task_service.list_tasks(current_user, task_filter)
    except Invalid:
        return redirect(url_for("inbox.index", scope=scope))
    processes = {pid: spec.name for pid, spec in registry().current.items()}
    counts = {s: task_service.count_tasks(current_user, s) for s in ("mine", "candidate")}
    return render_template("inbox/index.html", page=page, f=task_filter, scope_labels=SCOPE_LABELS,
                           processes=processes, counts=counts)


def _task_context(task: Any) -> dict[str, Any]:
    """Extra panels for a task page, by the case its instance belongs to (e.g. the plan under review)."""
    key = task.instance.business_key or ""
    kind, _sep, ident = key.partition(":")
    try:
        if kind == "plan":
            return {"plan": plans.get_plan(current_user, int(ident))}
        if kind == "plan_change":
            change = db.session.get(PlanChange, int(ident))
            if change is None:
                return {}
            return {"plan": plans.get_plan(current_user, change.plan_id), "change": change,
                    "change_rows": plan_changes.diff(change)}
        if kind == "change_order":
            return {"order": change_orders.get(current_user, int(ident))}
        if kind == "meeting":
            return {"meeting": meetings.get(current_user, int(ident))}
    except ServiceError:
        return {}
    return {}


@bp.route("/tasks/<int:task_id>", methods=["GET", "POST"])
@login_required
def task(task_id: int) -> ResponseReturnValue:
    try:
        task = task_service.get_task(current_user, task_id)
    except ServiceError as exc:
        abort(exc.status)
    spec = task_service.form_spec(task)
    if spec.page:
        return redirect(url_for(spec.page, task_id=task.id))
    form = build_form_class(spec)()
    can_act = task_service.may_act(current_user, task)
    if request.method == "POST" and form.validate_on_submit():
        try:
            with write_transaction():
                instance = task_service.complete(current_user, task_id, cleaned_data(spec, form))
            flash(_("已提交：%(name)s", name=task.name), "success")
            return redirect(url_for("instances.show", instance_id=instance.id))
        except Invalid as exc:
            for name, messages in exc.errors.items():
                if name in form:
                    form[name].errors = list(messages)
        except ServiceError as exc:
            flash(exc.message, "danger")
            return redirect(url_for("inbox.task", task_id=task_id))
    status = 422 if request.method == "POST" else 200
    return render_template("inbox/task.html", task=task, spec=spec, form=form, can_act=can_act,
                           **_task_context(task)), status


def _inbox_operation(operation: Callable[[Any, int], Any], task_id: int, done: str, category: str) -> None:
    """Run a claim/release in its own transaction; a conflict is explained, anything else refused."""
    try:
        with write_transaction():
            operation(current_user, task_id)
        flash(done, category)
    except Conflict as exc:
        flash(exc.message, "warning")
    except ServiceError as exc:
        abort(exc.status)


@bp.route("/tasks/<int:task_id>/claim", methods=["POST"])
@login_required
def claim(task_id: int) -> ResponseReturnValue:
    _inbox_operation(task_service.claim, task_id, _("已认领，任务已移入“我的待办”。"), "success")
    return redirect(url_for("inbox.task", task_id=task_id))


@bp.route("/tasks/<int:task_id>/unclaim", methods=["POST"])
@login_required
def unclaim(task_id: int) -> ResponseReturnValue:
    _inbox_operation(task_service.unclaim, task_id, _("已释放，任务回到“组待办”。"), "info")
    return redirect(url_for("inbox.index", scope="candidate"))
