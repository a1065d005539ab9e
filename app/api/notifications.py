"""The signed-in user's notifications (the bell's API)."""
from __future__ import annotations

from flask import jsonify, request
from flask.typing import ResponseReturnValue

from app.api import bp
from app.api.auth import api_user, token_required
from app.database import write_transaction
from app.services import notifications
from app.services.errors import Invalid

MAX_LIMIT = 200


@bp.route("/notifications")
@token_required
def list_notifications() -> ResponseReturnValue:
    limit = request.args.get("limit", default=notifications.LIST_LIMIT, type=int)
    if not 1 <= limit <= MAX_LIMIT:
        raise Invalid("limit 有误", {"limit": [f"须在 1–{MAX_LIMIT} 之间。"]})
    user = api_user()
    rows = notifications.list_for(user, limit, unread_only=request.args.get("unread") in ("1", "true"),
                                  before=request.args.get("before", type=int))
    return jsonify({"items": [notifications.notification_dict(r) for r in rows],
                    "unread": notifications.unread_count(user)})


@bp.route("/notifications/read", methods=["POST"])
@token_required
def read_notifications() -> ResponseReturnValue:
    body = request.get_json(silent=True) if request.get_data().strip() else {}
    if not isinstance(body, dict):
        raise Invalid("请求体须为 JSON 对象",
                      {"body": ["须为 JSON 对象，如 {\"ids\": [1, 2]}；空请求体即全部标为已读。"]})
    ids = body.get("ids")
    if ids is not None and not (isinstance(ids, list) and all(type(i) is int for i in ids)):
        raise Invalid("ids 须为通知编号的列表", {"ids": ["须为整数列表；不给则全部标为已读。"]})
    with write_transaction():
        marked = notifications.mark_read(api_user(), ids)
    return jsonify({"marked": marked, "unread": notifications.unread_count(api_user())})
