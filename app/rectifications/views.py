"""Rectification notice pages (整改通知书): the list, the office's form, the notice, and the task panel."""
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
from app.instances.views import DECISION_LABELS, EVENT_LABELS
from app.models import Plan, ProcessInstance, Rectification, Unit, UnitKind, User
from app.rectifications import bp
from app.services import instances, plans, rectifications, tasks
from app.services.errors import Invalid, ServiceError

STATUS_BADGES = {"issued": "text-bg-primary", "submitted": "text-bg-info", "returned": "text-bg-warning",
                 "closed": "text-bg-success"}


def _labels() -> dict[str, Any]:
    return {"status_labels": rectifications.STATUS_LABELS, "status_badges": STATUS_BADGES,
            "event_labels": EVENT_LABELS, "decision_labels": DECISION_LABELS}


@bp.route("/rectifications/")
@login_required
def index() -> ResponseReturnValue:
    rects = rectifications.list_for(current_user)
    return render_template("rectifications/index.html", rects=rects, may_issue=rectifications.may_issue(current_user),
                           overdue={r.id for r in rects if rectifications.is_overdue(r)}, **_labels())


def _form_payload(form: Any) -> dict[str, Any]:
    """What the form posts, as the API takes it: only the deadline the user chose to give."""
    plan = form.get("plan", "").strip()
    payload: dict[str, Any] = {key: form.get(key, "") for key in ("unit", "title", "problems", "requirements")}
    payload["plan"] = int(plan) if plan.isdigit() else (plan or None)
    chosen = "deadline_days" if form.get("deadline_kind") == "days" else "deadline"
    payload[chosen] = form.get(chosen, "").strip()
    return payload


@bp.route("/rectifications/new", methods=["GET", "POST"])
@login_required
def new() -> ResponseReturnValue:
    if not rectifications.may_issue(current_user):
        abort(403)
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        try:
            with write_transaction():
                rect = rectifications.issue(current_user, _form_payload(request.form))
        except Invalid as exc:
            errors = exc.errors
        except ServiceError as exc:
            abort(exc.status)
        else:
            flash(_("整改通知书已下发：%(title)s", title=rect.title), "success")
            return redirect(url_for("rectifications.show", rect_id=rect.id))
    units = db.session.scalars(sa.select(Unit).where(Unit.active.is_(True), Unit.kind != UnitKind.OFFICE)
                               .order_by(Unit.kind, Unit.code)).all()
    return render_template("rectifications/new.html", units=units, plans=plans.list_plans(current_user),
                           form=request.form, errors=errors,
                           max_days=rectifications.MAX_DAYS), 422 if errors else 200


def _notice_context(user: User, rect: Rectification) -> dict[str, Any]:
    plan = db.session.get(Plan, rect.plan_id) if rect.plan_id else None
    return {"rect": rect, "plan": plan, "plan_link": plan is not None and plans.may_view(user, plan),
            "history": rectifications.history(rect),
            "overdue": rectifications.is_overdue(rect), **_labels()}


@bp.route("/rectifications/<int:rect_id>")
@login_required
def show(rect_id: int) -> ResponseReturnValue:
    try:
        rect = rectifications.get(current_user, rect_id)
    except ServiceError as exc:
        abort(exc.status)
    task = rectifications.open_task(rect)
    instance = db.session.get(ProcessInstance, rect.instance_id) if rect.instance_id else None
    return render_template("rectifications/show.html", task=task,
                           may_act=task is not None and tasks.may_act(current_user, task),
                           may_see_instance=instance is not None and instances.involved(
                               current_user, instance, [task] if task else []),
                           **_notice_context(current_user, rect))


@context.panel("rectification")
def _rectification_panel(user: User, rect_id: int) -> dict[str, Any]:
    """Beside the unit's report and the office's verification: the notice and what happened so far."""
    rect = rectifications.get(user, rect_id)
    reported = ["rectifications/_report.html"] if rect.analysis or rect.measures else []
    return {**_notice_context(user, rect),
            "panels": ["rectifications/_notice.html", *reported, "rectifications/_history.html"]}
