"""The bell and the notifications page: each user sees only their own."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user, login_required

from app.database import write_transaction
from app.notifications import bp
from app.services import notifications
from app.services.errors import NotFound

PAGE_SIZE = 50


@bp.app_context_processor
def _bell() -> dict[str, Callable[[], int]]:
    # A function, so only pages that draw the navbar pay for the one indexed COUNT, and only once.
    counted: list[int] = []

    def unread_notifications() -> int:
        if not counted:
            counted.append(notifications.unread_count(current_user) if current_user.is_authenticated else 0)
        return counted[0]
    return {"unread_notifications": unread_notifications}


@bp.route("/notifications")
@login_required
def index() -> ResponseReturnValue:
    before = request.args.get("before", type=int)
    unread_only = request.args.get("unread") == "1"
    rows = notifications.list_for(current_user, PAGE_SIZE + 1, unread_only=unread_only, before=before)
    context: dict[str, Any] = {"rows": rows[:PAGE_SIZE], "unread_only": unread_only,
                               "older": rows[PAGE_SIZE - 1].id if len(rows) > PAGE_SIZE else None}
    return render_template("notifications/index.html", **context)


@bp.route("/notifications/<int:notification_id>/open", methods=["POST"])
@login_required
def open_notification(notification_id: int) -> ResponseReturnValue:
    try:
        with write_transaction():
            row = notifications.open_for(current_user, notification_id)
            link = notifications.local_link(row.link)
    except NotFound:
        abort(404)
    return redirect(link or url_for("notifications.index"))


@bp.route("/notifications/read", methods=["POST"])
@login_required
def mark_all_read() -> ResponseReturnValue:
    with write_transaction():
        count = notifications.mark_read(current_user)
    flash(_("已将 %(n)d 条通知标为已读。", n=count), "success")
    return redirect(url_for("notifications.index"))
