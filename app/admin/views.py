"""Units and users, for admins."""
from __future__ import annotations

from io import BytesIO

import sqlalchemy as sa
from flask import abort, flash, redirect, render_template, request, send_file, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user, login_required

from app.admin import bp
from app.database import write_transaction
from app.extensions import db
from app.models import Unit, User
from app.roles import ROLE_LABELS, UNIT_KIND_LABELS
from app.services import accounts, objects
from app.services.errors import Invalid, InvalidRows


@bp.before_request
@login_required
def require_admin() -> None:
    if not current_user.is_admin:
        abort(403)


def _units() -> list[Unit]:
    return list(db.session.scalars(sa.select(Unit).order_by(Unit.kind, Unit.code)))


@bp.route("/units", methods=["GET", "POST"])
def units() -> ResponseReturnValue:
    errors: dict[str, list[str]] = {}
    status = 200
    if request.method == "POST":
        try:
            with write_transaction():
                unit = accounts.create_unit(request.form.get("code", ""), request.form.get("name", ""),
                                            request.form.get("kind", ""))
            flash(_("已添加单位 %(name)s。", name=unit.name), "success")
            return redirect(url_for("admin.units"))
        except Invalid as exc:
            errors, status = exc.errors, 422
    return render_template("admin/units.html", units=_units(), kinds=UNIT_KIND_LABELS, errors=errors,
                           values=request.form), status


@bp.route("/units/import", methods=["POST"])
def import_units() -> ResponseReturnValue:
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        flash(_("请选择要导入的 .xlsx 文件。"), "warning")
        return redirect(url_for("admin.units"))
    try:
        with write_transaction():
            created = objects.import_units(current_user, upload.read())
    except InvalidRows as exc:
        return render_template("admin/units.html", units=_units(), kinds=UNIT_KIND_LABELS, errors={},
                               values={}, import_error=exc), 422
    flash(_("已导入 %(n)d 个单位。", n=len(created)), "success")
    return redirect(url_for("admin.units"))


@bp.route("/units/export")
def export_units() -> ResponseReturnValue:
    return send_file(BytesIO(objects.export_units(current_user)), download_name="考核对象.xlsx", as_attachment=True,
                     mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")


@bp.route("/units/<int:unit_id>", methods=["POST"])
def update_unit(unit_id: int) -> ResponseReturnValue:
    unit = db.session.get(Unit, unit_id) or abort(404)
    try:
        with write_transaction():
            accounts.update_unit(unit, request.form.get("name", ""), request.form.get("kind", ""),
                                 request.form.get("active") == "1")
        flash(_("已更新单位 %(code)s。", code=unit.code), "success")
    except Invalid as exc:
        flash("；".join(m for ms in exc.errors.values() for m in ms), "danger")
    return redirect(url_for("admin.units"))


@bp.route("/users", methods=["GET", "POST"])
def users() -> ResponseReturnValue:
    errors: dict[str, list[str]] = {}
    status = 200
    if request.method == "POST":
        try:
            with write_transaction():
                user = accounts.create_user(
                    request.form.get("username", ""), request.form.get("name", ""),
                    request.form.get("password", ""), request.form.getlist("roles"),
                    request.form.get("unit") or None, email=request.form.get("email", ""))
            flash(_("已添加用户 %(name)s。", name=user.username), "success")
            return redirect(url_for("admin.users"))
        except Invalid as exc:
            errors, status = exc.errors, 422
    all_users = db.session.scalars(sa.select(User).order_by(User.username)).all()
    return render_template("admin/users.html", users=all_users, units=_units(), roles=ROLE_LABELS,
                           errors=errors, values=request.form), status


@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
def edit_user(user_id: int) -> ResponseReturnValue:
    user = db.session.get(User, user_id) or abort(404)
    errors: dict[str, list[str]] = {}
    status = 200
    if request.method == "POST":
        try:
            with write_transaction():
                accounts.update_user(user, request.form.get("name", ""), request.form.getlist("roles"),
                                     request.form.get("unit") or None, request.form.get("active") == "1",
                                     request.form.get("password") or None, actor=current_user,
                                     email=request.form.get("email", ""))
            flash(_("已更新用户 %(name)s。", name=user.username), "success")
            return redirect(url_for("admin.users"))
        except Invalid as exc:
            errors, status = exc.errors, 422
    return render_template("admin/user_edit.html", edited=user, units=_units(), roles=ROLE_LABELS,
                           errors=errors), status
