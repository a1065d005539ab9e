"""The document archive (文档管理) and the public verify page (文件验证)."""
from __future__ import annotations

from io import BytesIO

from flask import abort, flash, jsonify, redirect, render_template, request, send_file, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user, login_required

from app.database import write_transaction
from app.documents import bp
from app.models import Document
from app.services import documents
from app.services.errors import Invalid, ServiceError


@bp.route("/documents")
@login_required
def index() -> ResponseReturnValue:
    kind, phase, q = request.args.get("kind") or None, request.args.get("phase") or None, request.args.get("q") or None
    try:
        found = documents.list_documents(current_user, kind=kind, phase=phase, q=q)
    except Invalid:
        return redirect(url_for("documents.index"))
    return render_template("documents/index.html", documents=found, kind=kind, phase=phase, q=q or "",
                           kinds=documents.KIND_LABELS, phases=documents.PHASE_LABELS,
                           manager=documents.is_manager(current_user))


def _document(document_id: int) -> Document:
    try:
        return documents.get_document(current_user, document_id)
    except ServiceError as exc:
        abort(exc.status)


@bp.route("/documents/<int:document_id>")
@login_required
def show(document_id: int) -> ResponseReturnValue:
    document = _document(document_id)
    return render_template("documents/show.html", document=document, kinds=documents.KIND_LABELS,
                           phases=documents.PHASE_LABELS, statuses=documents.STATUS_LABELS,
                           verify_url=documents.verify_url(document))


@bp.route("/documents/<int:document_id>/pdf")
@login_required
def pdf(document_id: int) -> ResponseReturnValue:
    document = _document(document_id)
    if document.status != "ready" or document.sha256 is None:
        abort(409)
    # inline: the browser's viewer prints it; the name says what it is
    return send_file(BytesIO(documents.read_file(document)), mimetype="application/pdf",
                     download_name=f"{document.title}.pdf", as_attachment=request.args.get("download") == "1",
                     etag=document.sha256)


@bp.route("/documents/<int:document_id>/status")
@login_required
def status(document_id: int) -> ResponseReturnValue:
    """Polled by the document's page while the worker renders and signs it."""
    document = _document(document_id)
    return jsonify(documents.status_dict(document) | {"label": _(documents.STATUS_LABELS[document.status])})


@bp.route("/documents/<int:document_id>/retry", methods=["POST"])
@login_required
def retry(document_id: int) -> ResponseReturnValue:
    try:
        with write_transaction():
            documents.retry(current_user, document_id)
        flash(_("已重新排队生成。"), "info")
    except Invalid as exc:
        flash(exc.message, "warning")
    except ServiceError as exc:
        abort(exc.status)
    return redirect(url_for("documents.show", document_id=document_id))


# ----------------------------------------------------------------------------- verify (public)

@bp.route("/verify", methods=["GET", "POST"])
def verify() -> ResponseReturnValue:
    """Anyone holding a copy may check it: the answer is about that file only."""
    result, errors = None, {}
    if request.method == "POST":
        upload = request.files.get("file")
        try:
            result = documents.verify_upload(upload.read(documents.verify_limit() + 1) if upload else None)
        except Invalid as exc:
            errors = exc.errors
    return render_template("documents/verify.html", result=result, errors=errors, record=None,
                           kinds=documents.KIND_LABELS), 422 if errors else 200


@bp.route("/verify/<code>")
def verify_code(code: str) -> ResponseReturnValue:
    """Where a printed QR code leads: the archive record of that code, to compare with the paper."""
    try:
        record = documents.by_code(code)
    except ServiceError:
        abort(404)
    if record.status != "ready":
        abort(404)
    return render_template("documents/verify.html", result=None, errors={}, record=record,
                           kinds=documents.KIND_LABELS, units=documents.party_units(record))
