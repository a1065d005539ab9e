"""Appeal pages: an assessed unit files an appeal with evidence; everyone involved follows it."""
from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, request, send_file, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user, login_required

from app.appeals import bp
from app.database import write_transaction
from app.extensions import db
from app.inbox import context
from app.models import Appeal, Plan, Role, User
from app.services import appeals, scoring_round
from app.services.errors import Invalid, ServiceError


@bp.route("/")
@login_required
def index() -> ResponseReturnValue:
    try:
        items = appeals.list_appeals(current_user, request.args.get("plan", type=int))
    except ServiceError as exc:
        abort(exc.status)
    return render_template("appeals/index.html", appeals=items, labels=appeals.STATUS_LABELS)


@bp.route("/new", methods=["GET", "POST"])
@login_required
def new() -> ResponseReturnValue:
    source = request.form if request.method == "POST" else request.args
    fields = {k: source.get(k, "") for k in ("plan", "object", "indicator", "reason")}
    plan = db.session.get(Plan, source.get("plan", type=int) or 0)
    if plan is None:
        abort(404)
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        try:
            with write_transaction():
                appeal = appeals.file_appeal(current_user, fields, request.files.getlist("files"))
        except Invalid as exc:
            errors = exc.errors
        except ServiceError as exc:
            if exc.status == 409:
                flash(exc.message, "warning")
                return redirect(url_for("appeals.index"))
            abort(exc.status)
        else:
            flash(_("申诉已提交，考核办受理后会通知您。"), "success")
            return redirect(url_for("appeals.show", appeal_id=appeal.id))
    else:
        own = current_user.unit.code if current_user.unit is not None else None
        fields["object"] = fields["object"] or (own or "")
        if (not current_user.has_role(Role.ASSESSED_UNIT) or fields["object"] != own
                or not any(o.unit_id == current_user.unit_id for o in plan.objects)):
            abort(403)   # a unit appeals its own results only
    indicator = next((i for i in plan.indicators if i.code == fields["indicator"]), None)
    return render_template("appeals/new.html", plan=plan, fields=fields, indicator=indicator, errors=errors,
                           window_open=scoring_round.appeal_window_open(plan),
                           leaves=[i for i in plan.indicators if not i.children and i.method == "manual"],
                           max_files=appeals.MAX_FILES), 422 if errors else 200


def _load(appeal_id: int) -> Appeal:
    try:
        return appeals.get_appeal(current_user, appeal_id)
    except ServiceError as exc:
        abort(exc.status)


@bp.route("/<int:appeal_id>")
@login_required
def show(appeal_id: int) -> ResponseReturnValue:
    return render_template("appeals/show.html", appeal=_load(appeal_id), labels=appeals.STATUS_LABELS)


@bp.route("/<int:appeal_id>/files/<int:file_id>")
@login_required
def download(appeal_id: int, file_id: int) -> ResponseReturnValue:
    appeal = _load(appeal_id)
    try:
        row, path = appeals.file_path(appeal, file_id)
    except ServiceError as exc:
        abort(exc.status)
    if not path.exists():
        abort(404)
    return send_file(path, mimetype=row.content_type, as_attachment=True, download_name=row.filename)


@context.panel("appeal")
def _appeal_panel(user: User, appeal_id: int) -> dict[str, Any]:
    """Beside the office's and the evaluators' tasks: the appeal, its evidence and re-evaluations."""
    return {"appeal": appeals.get_appeal(user, appeal_id), "appeal_labels": appeals.STATUS_LABELS,
            "panels": ["appeals/_panel.html"]}
