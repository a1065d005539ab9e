"""API for rectification notices (整改通知书, A4.1); the rules live in the service."""
from __future__ import annotations

from flask import jsonify, request
from flask.typing import ResponseReturnValue

from app.api import bp
from app.api.auth import api_user, token_required
from app.database import write_transaction
from app.services import rectifications


@bp.route("/rectifications", methods=["GET", "POST"])
@token_required
def rectifications_collection() -> ResponseReturnValue:
    if request.method == "GET":
        return jsonify({"items": [rectifications.rectification_dict(r) for r in rectifications.list_for(api_user())]})
    with write_transaction():
        rect = rectifications.issue(api_user(), request.get_json(silent=True))
        created = {"id": rect.id, "instance_id": rect.instance_id}
    return jsonify(created), 201


@bp.route("/rectifications/<int:rect_id>")
@token_required
def rectification_item(rect_id: int) -> ResponseReturnValue:
    return jsonify(rectifications.rectification_dict(rectifications.get(api_user(), rect_id)))
