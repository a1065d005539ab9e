"""API for change orders, meetings, their follow-ups and the document archive (MISSION B4, B5, B10)."""
from __future__ import annotations

from io import BytesIO

from flask import jsonify, request, send_file
from flask.typing import ResponseReturnValue

from app.api import bp
from app.api.auth import api_user, error, token_required
from app.database import write_transaction
from app.services import change_orders, documents, meetings


@bp.errorhandler(413)
def _too_large(_exc: Exception) -> ResponseReturnValue:
    return error(413, "上传的文件过大", {"file": ["请求体超过允许的大小。"]})


@bp.route("/change-orders", methods=["POST"])
@token_required
def file_change_order() -> ResponseReturnValue:
    with write_transaction():
        order = change_orders.file(api_user(), request.get_json(silent=True))
        body = {"id": order.id, "instance_id": order.instance_id, "number": order.number}
    return jsonify(body), 201


@bp.route("/change-orders/<int:order_id>")
@token_required
def change_order(order_id: int) -> ResponseReturnValue:
    return jsonify(change_orders.order_dict(change_orders.get(api_user(), order_id)))


@bp.route("/change-orders/<int:order_id>/revise", methods=["POST"])
@token_required
def revise_change_order(order_id: int) -> ResponseReturnValue:
    with write_transaction():
        order = change_orders.revise(api_user(), order_id, request.get_json(silent=True))
        body = change_orders.order_dict(order)
    return jsonify(body)


@bp.route("/meetings", methods=["POST"])
@token_required
def create_meeting() -> ResponseReturnValue:
    with write_transaction():
        meeting = meetings.create(api_user(), request.get_json(silent=True))
        body = {"id": meeting.id, "instance_id": meeting.instance_id}
    return jsonify(body), 201


@bp.route("/meetings/<int:meeting_id>")
@token_required
def meeting(meeting_id: int) -> ResponseReturnValue:
    return jsonify(meetings.meeting_dict(meetings.get(api_user(), meeting_id)))


@bp.route("/meetings/<int:meeting_id>/minutes", methods=["POST"])
@token_required
def draft_minutes(meeting_id: int) -> ResponseReturnValue:
    payload = request.get_json(silent=True)
    submit = not (isinstance(payload, dict) and payload.get("submit") is False)
    with write_transaction():
        body = meetings.meeting_dict(meetings.save_draft(api_user(), meeting_id, payload, submit=submit))
    return jsonify(body)


@bp.route("/action-items")
@token_required
def action_items() -> ResponseReturnValue:
    items = meetings.list_items(api_user(), status=request.args.get("status") or None,
                                mine=request.args.get("mine") == "1")
    return jsonify({"items": [meetings.item_dict(i) for i in items]})


@bp.route("/action-items/<int:item_id>/done", methods=["POST"])
@token_required
def action_item_done(item_id: int) -> ResponseReturnValue:
    payload = request.get_json(silent=True)
    with write_transaction():
        item = meetings.mark_done(api_user(), item_id, payload.get("note") if isinstance(payload, dict) else None)
        body = meetings.item_dict(item)
    return jsonify(body)


@bp.route("/documents")
@token_required
def list_documents() -> ResponseReturnValue:
    found = documents.list_documents(api_user(), kind=request.args.get("kind") or None,
                                     phase=request.args.get("phase") or None, q=request.args.get("q") or None)
    return jsonify({"items": [documents.document_dict(d) for d in found]})


@bp.route("/documents/<int:document_id>")
@token_required
def document(document_id: int) -> ResponseReturnValue:
    return jsonify(documents.document_dict(documents.get_document(api_user(), document_id)))


@bp.route("/documents/<int:document_id>/pdf")
@token_required
def document_pdf(document_id: int) -> ResponseReturnValue:
    found = documents.get_document(api_user(), document_id)
    if found.status != "ready" or found.sha256 is None:
        return error(409, "文件尚在生成中", {"status": [found.status]})
    return send_file(BytesIO(documents.read_file(found)), mimetype="application/pdf",
                     download_name=f"{found.sha256[:12]}.pdf", etag=found.sha256)


@bp.route("/documents/verify", methods=["POST"])
@token_required
def verify_document() -> ResponseReturnValue:
    upload = request.files.get("file")
    result = documents.verify_upload(upload.read(documents.verify_limit() + 1) if upload else None)
    return jsonify(result.as_dict())
