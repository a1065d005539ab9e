from __future__ import annotations

from urllib.parse import urlsplit

from flask import flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import login_required, login_user, logout_user

from app.auth import bp
from app.auth.forms import LoginForm
from app.extensions import db
from app.services import accounts
from app.services.errors import Throttled


def _safe_next(target: str | None) -> str:
    """Only same-site paths: an open redirect after login is a phishing aid."""
    if target and not urlsplit(target).netloc and target.startswith("/") and not target.startswith("//"):
        return target
    return url_for("inbox.index")


@bp.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        try:
            user = accounts.authenticate(form.username.data or "", form.password.data or "",
                                         request.remote_addr or "?")
            db.session.commit()
        except Throttled as exc:
            db.session.rollback()
            form.password.errors = [exc.message]
            return render_template("auth/login.html", form=form), 429
        if user is not None:
            login_user(user)
            return redirect(_safe_next(request.args.get("next")))
        form.password.errors = [_("用户名或密码错误。")]
        status = 401
    return render_template("auth/login.html", form=form), status


@bp.route("/logout", methods=["POST"])
@login_required
def logout() -> ResponseReturnValue:
    logout_user()
    flash(_("已退出登录。"), "info")
    return redirect(url_for("auth.login"))


@bp.route("/lang/<code>", methods=["POST"])
def set_language(code: str) -> ResponseReturnValue:
    response = redirect(_safe_next(request.form.get("next")))
    if code in ("zh_CN", "en"):
        response.set_cookie("lang", code, max_age=365 * 24 * 3600, samesite="Lax", httponly=True)
    return response
