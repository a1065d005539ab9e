"""Indicator change pages: request a change to a published plan, and read any earlier version."""
from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user, login_required

from app.database import write_transaction
from app.plans import bp
from app.services import plan_changes, plans
from app.services.errors import Invalid, ServiceError

FIELDS = ("name", "weight", "max_score", "standard")


def _requested(form: Any, plan_dict: dict[str, Any]) -> list[dict[str, Any]]:
    """Only what the form changed, per indicator: unchanged rows and fields are not part of the request."""
    items = []

    def walk(nodes: list[dict[str, Any]]) -> None:
        for node in nodes:
            names = {f: f"{node['code']}:{f}" for f in FIELDS}
            given = {f: form[name].replace("\r\n", "\n").strip() for f, name in names.items() if name in form}
            changed = {f: v for f, v in given.items() if v != str(node[f])}
            if changed:
                items.append({"code": node["code"], **changed})
            walk(node["children"])

    walk(plan_dict["indicators"])
    return items


@bp.route("/<int:plan_id>/changes/new", methods=["GET", "POST"])
@login_required
def request_change(plan_id: int) -> ResponseReturnValue:
    try:
        plan = plan_changes.open_plan(current_user, plan_id)
    except ServiceError as exc:
        if exc.status == 409:
            flash(exc.message, "warning")
            return redirect(url_for("plans.show", plan_id=plan_id))
        abort(exc.status)
    current = plans.plan_dict(plan)
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        payload = {"reason": request.form.get("reason", ""), "indicators": _requested(request.form, current)}
        try:
            with write_transaction():
                change = plan_changes.request_change(current_user, plan_id, payload)
        except Invalid as exc:
            errors = exc.errors
        except ServiceError as exc:
            flash(exc.message, "warning")
            return redirect(url_for("plans.show", plan_id=plan_id))
        else:
            flash(_("变更申请已提交审核，通过后生效。"), "success")
            return redirect(url_for("instances.show", instance_id=change.instance_id))
    return render_template("plans/change_new.html", plan=plan, current=current, form=request.form,
                           errors=errors), 422 if errors else 200


@bp.route("/<int:plan_id>/versions/<int:version>")
@login_required
def version(plan_id: int, version: int) -> ResponseReturnValue:
    try:
        snapshot = plan_changes.plan_at_version(current_user, plan_id, version)
        plan = plans.get_plan(current_user, plan_id)
    except ServiceError as exc:
        abort(exc.status)
    return render_template("plans/version.html", plan=plan, snapshot=snapshot)
