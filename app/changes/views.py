"""Engineering change order pages (工程变更): list, filing, the order with its progress, and revision."""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user, login_required

from app.changes import bp
from app.database import write_transaction
from app.extensions import db
from app.inbox import context
from app.models import ChangeOrder, Unit, User
from app.services import change_orders, documents, instances
from app.services import tasks as task_service
from app.services.errors import Invalid, ServiceError


def _units() -> dict[str, list[Unit]]:
    rows = db.session.scalars(sa.select(Unit).where(Unit.active).order_by(Unit.code))
    units: dict[str, list[Unit]] = {key: [] for key in change_orders.PARTY_KEYS}
    for unit in rows:
        if unit.kind in units:
            units[unit.kind].append(unit)
    return units


def _payload(form: Any) -> dict[str, Any]:
    return {
        "title": form.get("title", ""), "project": form.get("project", ""), "reason": form.get("reason", ""),
        "content": form.get("content", ""), "phase": form.get("phase") or None,
        "amount": {"contract": form.get("contract", ""), "change": form.get("change", "")},
        "parties": {key: form.get(key, "") for key in change_orders.PARTY_KEYS},
    }


@bp.route("/change-orders")
@login_required
def index() -> ResponseReturnValue:
    return render_template("changes/index.html", orders=change_orders.list_orders(current_user),
                           statuses=change_orders.STATUS_LABELS, may_file=change_orders.may_file(current_user))


@bp.route("/change-orders/new", methods=["GET", "POST"])
@login_required
def new() -> ResponseReturnValue:
    if not change_orders.may_file(current_user):
        abort(403)
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        files = [(f.filename or "", f.read()) for f in request.files.getlist("attachments") if f.filename]
        try:
            with write_transaction():
                order = change_orders.file(current_user, _payload(request.form), files)
            flash(_("已提交变更申请 %(number)s，等待各方会勘。", number=order.number), "success")
            return redirect(url_for("changes.show", order_id=order.id))
        except Invalid as exc:
            errors = exc.errors
        except ServiceError as exc:
            abort(exc.status)
    defaults = {key: current_user.unit.code for key in change_orders.PARTY_KEYS
                if current_user.unit and current_user.unit.kind == key}
    return render_template("changes/new.html", errors=errors, values={**defaults, **request.form.to_dict()},
                           units=_units(), labels=change_orders.PARTY_LABELS,
                           phases=documents.PHASE_LABELS), 422 if errors else 200


def _order(order_id: int) -> ChangeOrder:
    try:
        return change_orders.get(current_user, order_id)
    except ServiceError as exc:
        abort(exc.status)


@bp.route("/change-orders/<int:order_id>")
@login_required
def show(order_id: int) -> ResponseReturnValue:
    order = _order(order_id)
    open_tasks = instances.open_tasks(order.instance_id)
    return render_template("changes/show.html", order=order, open_tasks=open_tasks,
                           statuses=change_orders.STATUS_LABELS, labels=change_orders.PARTY_LABELS,
                           percent=change_orders.percent(order.contract_amount, order.change_amount),
                           survey=change_orders.signoffs(order, "survey"), signed=change_orders.signoffs(order, "sign"),
                           returns=change_orders.returns(order), document=order.document,
                           may_act=lambda t: task_service.may_act(current_user, t))


@bp.route("/change-orders/tasks/<int:task_id>", methods=["GET", "POST"])
@login_required
def revise(task_id: int) -> ResponseReturnValue:
    """The initiator's page for a returned request: edit, then resubmit, or withdraw."""
    try:
        task = task_service.get_task(current_user, task_id)
        order = change_orders.get(current_user, change_orders.order_of_task(task))
    except ServiceError as exc:
        abort(exc.status)
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        payload = {**_payload(request.form), "decision": request.form.get("decision"),
                   "comment": request.form.get("comment")}
        try:
            with write_transaction():
                change_orders.revise(current_user, order.id, payload)
            done = _("已重新提交，等待各方会勘。") if payload["decision"] == "resubmit" else _("变更申请已撤回。")
            flash(done, "success")
            return redirect(url_for("changes.show", order_id=order.id))
        except Invalid as exc:
            errors = exc.errors
        except ServiceError as exc:
            flash(exc.message, "danger")
            return redirect(url_for("changes.show", order_id=order.id))
    values = request.form.to_dict() if request.method == "POST" else {
        "title": order.title, "project": order.project, "reason": order.reason, "content": order.content,
        "contract": str(order.contract_amount), "change": str(order.change_amount)}
    return render_template("changes/revise.html", task=task, order=order, errors=errors, values=values,
                           returns=change_orders.returns(order),
                           can_act=task.status == "open" and task_service.may_act(current_user, task)
                           ), 422 if errors else 200


@context.panel("change_order")
def _order_panel(user: User, order_id: int) -> dict[str, Any]:
    """Beside a change order's tasks: the order, its amounts and every party's sign-off so far."""
    return {"order": change_orders.get(user, order_id), "panels": ["changes/_summary.html"]}
