"""The document archive (MISSION B10, DESIGN §5): signed PDFs rendered in the background, stored
immutably by SHA-256, readable by managers and by their parties, and verifiable by anyone holding one.

A case (a change order, a meeting's minutes) asks for its document once its last sign-off is
recorded. The worker renders it once, signs it with the system certificate, adds the signatures
of parties that hold their own certificates as incremental updates, and archives every revision.
"""
from __future__ import annotations

import logging
import os
import secrets
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import segno
import sqlalchemy as sa
from flask import current_app

from app import pdf
from app.database import after_commit, is_postgres, write_transaction
from app.extensions import db
from app.i18n import N_
from app.models import (
    Document,
    DocumentKind,
    DocumentParty,
    DocumentRevision,
    Phase,
    ProcessEvent,
    ProcessInstance,
    Role,
    Unit,
    User,
)
from app.models.base import utcnow
from app.services.errors import Forbidden, Invalid, NotFound
from app.workdays import SHANGHAI

log = logging.getLogger(__name__)

KIND_LABELS = {DocumentKind.CHANGE_ORDER: N_("工程变更单"), DocumentKind.MEETING_MINUTES: N_("会议纪要"),
               DocumentKind.RECTIFICATION_NOTICE: N_("整改通知书")}
PHASE_LABELS = {
    Phase.PREPARATION: N_("前期准备"), Phase.CONTRACTS: N_("合同"), Phase.PROCUREMENT: N_("采购"),
    Phase.DESIGN: N_("设计"), Phase.IMPLEMENTATION: N_("实施"), Phase.INITIAL_ACCEPTANCE: N_("初验"),
    Phase.TRAINING: N_("培训"), Phase.TRIAL_RUN: N_("试运行"), Phase.FINAL_ACCEPTANCE: N_("终验"),
    Phase.OPERATION: N_("运行维护"), Phase.PLANS_REPORTS: N_("计划与报告"), Phase.CHANGES: N_("变更"),
    Phase.OTHER: N_("其他"),
}
STATUS_LABELS = {"queued": N_("排队中"), "rendering": N_("正在生成"), "signing": N_("正在签章"),
                 "ready": N_("已归档"), "failed": N_("生成失败")}
DECISION_LABELS = {"agree": "同意", "disagree": "不同意", "approve": "通过", "return": "退回",
                   "resubmit": "重新提交", "withdraw": "撤回"}
MANAGER_ROLES = (Role.ADMIN, Role.ASSESSMENT_MANAGER, Role.LEADER)
CODE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"   # no 0/O, 1/I: read off paper and typed


# ----------------------------------------------------------------------------- what each kind renders

@dataclass
class PartyBox:
    """A party whose block is signed with its own certificate, in the box with id ``box_id``."""

    box_id: str
    role: str
    unit_code: str
    signer: str
    unit: str
    opinion: str


@dataclass
class Layout:
    template: str
    context: dict[str, Any]
    own_cert_boxes: list[PartyBox]


Renderer = Callable[[Document], Layout]
_renderers: dict[str, Renderer] = {}


def renderer(kind: str) -> Callable[[Renderer], Renderer]:
    """Case services register how their kind of document is laid out (at import)."""
    def register(fn: Renderer) -> Renderer:
        _renderers[kind] = fn
        return fn
    return register


# ----------------------------------------------------------------------------- keys and files

def system_identity() -> pdf.SigningIdentity:
    key, cert = Path(current_app.config["SIGNING_KEY_PATH"]), Path(current_app.config["SIGNING_CERT_PATH"])
    if not (key.exists() and cert.exists()):
        raise RuntimeError("系统签章证书不存在：请先运行 flask --app wsgi init")
    return pdf.SigningIdentity(key, cert)


def party_dir(unit_code: str) -> Path:
    return Path(current_app.config["PARTY_CERTS_DIR"]) / unit_code


def party_identity(unit_code: str) -> pdf.SigningIdentity | None:
    """A party's own certificate, installed by an admin with ``flask signing party-cert``."""
    folder = party_dir(unit_code)
    key, cert = folder / "key.pem", folder / "cert.pem"
    if not (key.exists() and cert.exists()):
        return None
    chain = tuple(sorted(folder.glob("chain*.pem")))
    return pdf.SigningIdentity(key, cert, chain)


def trust_roots() -> list[Path]:
    """The system certificate, CA certificates an admin trusted, and the parties' chains."""
    roots = [Path(current_app.config["SIGNING_CERT_PATH"])]
    roots += sorted(Path(current_app.config["TRUST_DIR"]).glob("*.pem"))
    roots += sorted(Path(current_app.config["PARTY_CERTS_DIR"]).glob("*/chain*.pem"))
    return roots


def archive_path(sha256: str) -> Path:
    return Path(current_app.config["ARCHIVE_DIR"]) / f"{sha256}.pdf"


def store(data: bytes, sha256: str) -> Path:
    """Write once, atomically, read-only: an archived file never changes under its name."""
    target = archive_path(sha256)
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.chmod(tmp, 0o444)
    os.replace(tmp, target)
    return target


def read_file(document: Document) -> bytes:
    if document.sha256 is None:
        raise NotFound("文件尚未生成")
    return archive_path(document.sha256).read_bytes()


# ----------------------------------------------------------------------------- creating and rendering

def new_code() -> str:
    raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(16))
    return "-".join(raw[i:i + 4] for i in range(0, 16, 4))


def create(*, kind: str, title: str, phase: str, case_key: str, instance_id: int | None,
           parties: list[tuple[str, int | None, int | None]]) -> Document:
    """The document row of a case whose sign-offs are complete; its render is queued after commit."""
    existing = db.session.scalar(sa.select(Document).where(Document.case_key == case_key))
    if existing is not None:
        return existing
    document = Document(kind=kind, title=title, phase=phase, case_key=case_key, instance_id=instance_id,
                        verification_code=new_code(), status="queued", progress=0)
    for role, unit_id, user_id in parties:
        document.parties.append(DocumentParty(role=role, unit_id=unit_id, user_id=user_id))
    db.session.add(document)
    db.session.flush()
    queue_render(document.id)
    return document


def queue_render(document_id: int) -> None:
    app = current_app._get_current_object()  # type: ignore[attr-defined]

    def dispatch() -> None:
        if app.config.get("DOCUMENTS_RENDER_INLINE"):
            render_now(document_id)
            return
        try:
            app.extensions["celery"].send_task("app.tasks.render_document", args=[document_id])
        except Exception:   # the case is committed; the document stays queued and an admin can requeue it
            log.exception("could not queue document %s for rendering", document_id)

    after_commit(dispatch)


def _set_status(document_id: int, status: str, progress: int, error: str | None = None) -> None:
    with write_transaction():
        db.session.execute(sa.update(Document).where(Document.id == document_id)
                           .values(status=status, progress=progress, error=error))


def render_now(document_id: int) -> Document | None:
    """Render, sign and archive one document (the worker's task); a second run of a ready one does nothing."""
    with write_transaction():
        query = sa.select(Document).where(Document.id == document_id)
        document = db.session.scalar(query.with_for_update() if is_postgres() else query)
        if document is None or document.status == "ready":
            return document
        document.status, document.progress, document.error = "rendering", 10, None
    try:
        layout = _renderers[document.kind](document)
        rendered = pdf.render(layout.template, layout.context, tuple(b.box_id for b in layout.own_cert_boxes))
        _set_status(document_id, "signing", 60)
        system = system_identity()
        data = pdf.sign_system(rendered.data, system, name="GovAssure 系统签章",
                               reason=f"{KIND_LABELS[DocumentKind(document.kind)]}：各方签署记录见证据页",
                               location=current_app.config["SIGNING_LOCATION"],
                               empty_fields={b.box_id: rendered.boxes[b.box_id] for b in layout.own_cert_boxes})
        revisions: list[tuple[bytes, pdf.SigningIdentity, str | None]] = [(data, system, None)]
        for box in layout.own_cert_boxes:
            identity = party_identity(box.unit_code)
            if identity is None:
                continue
            data = pdf.sign_party(data, identity, field_name=box.box_id, signer_name=box.signer, unit=box.unit,
                                  opinion=box.opinion or "同意", location=current_app.config["SIGNING_LOCATION"],
                                  signed_at=local(utcnow(), "%Y-%m-%d %H:%M:%S"))
            revisions.append((data, identity, box.role))
        with write_transaction():
            document = db.session.get(Document, document_id)
            assert document is not None
            for blob, identity, role in revisions:
                digest = pdf.sha256_hex(blob)
                store(blob, digest)
                document.revisions.append(DocumentRevision(sha256=digest, signer=identity.subject(),
                                                           cert_serial=identity.serial(), party_role=role))
            document.sha256 = digest
            document.size, document.pages = len(data), rendered.pages
            document.status, document.progress, document.archived_at = "ready", 100, utcnow()
        return document
    except Exception as exc:
        log.exception("document %s failed to render", document_id)
        _set_status(document_id, "failed", 0, f"{type(exc).__name__}: {exc}"[:2000])
        raise


def retry(user: User, document_id: int) -> Document:
    document = get_document(user, document_id)
    if not user.is_admin:
        raise Forbidden("只有系统管理员可以重新生成文件")
    if document.status not in ("failed", "queued"):
        raise Invalid("只有生成失败或仍在排队的文件可以重新生成", {"status": [document.status]})
    document.status, document.progress, document.error = "queued", 0, None
    queue_render(document.id)
    return document


# ----------------------------------------------------------------------------- shared pieces of the layouts

def qr_data_uri(text: str) -> str:
    return str(segno.make(text, error="m").svg_data_uri(scale=4, border=1))


def verify_url(document: Document) -> str:
    return f"{current_app.config['PUBLIC_URL'].rstrip('/')}/verify/{document.verification_code}"


def local(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return value.astimezone(SHANGHAI).strftime(fmt) if value else ""


def chinese_date(value: datetime | None) -> str:
    if value is None:
        return ""
    d = value.astimezone(SHANGHAI)
    return f"{d.year}年{d.month}月{d.day}日"


STEP_LABELS = {"started": "发起", "instance_completed": "流程完成", "timer": "定时触发"}


def timeline(instance_id: int | None) -> list[dict[str, str]]:
    """Every recorded step of the case from the event log (claims and releases left out)."""
    if instance_id is None:
        return []
    rows = []
    events = db.session.scalars(sa.select(ProcessEvent).where(
        ProcessEvent.instance_id == instance_id,
        ProcessEvent.type.in_(("started", "completed", "instance_completed", "timer"))).order_by(ProcessEvent.id))
    for event in events:
        rows.append({
            "at": local(event.at, "%Y-%m-%d %H:%M:%S"),
            "step": event.task_name or STEP_LABELS.get(event.type, event.type),
            "who": event.user.name if event.user else "系统",
            "unit": event.user.unit.name if event.user and event.user.unit else "",
            "decision": DECISION_LABELS.get(event.decision or "", event.decision or ""),
            "opinion": event.comment or "",
        })
    return rows


def evidence(document: Document, process_name: str) -> dict[str, Any]:
    url = verify_url(document)
    return {"document_title": document.title, "code": document.verification_code, "verify_url": url,
            "qr": qr_data_uri(url), "instance_id": document.instance_id, "process_name": process_name,
            "timeline": timeline(document.instance_id), "system_subject": system_identity().subject(),
            "generated_at": local(utcnow(), "%Y-%m-%d %H:%M:%S")}


# ----------------------------------------------------------------------------- reading

def is_manager(user: User) -> bool:
    return user.has_role(*MANAGER_ROLES)


def _party_clause(user: User) -> sa.ColumnElement[bool]:
    mine = sa.select(DocumentParty.document_id).where(sa.or_(
        DocumentParty.user_id == user.id,
        DocumentParty.unit_id == user.unit_id if user.unit_id is not None else sa.false()))
    return Document.id.in_(mine)


def may_read(user: User, document: Document) -> bool:
    if is_manager(user):
        return True
    return any(p.user_id == user.id or (p.unit_id is not None and p.unit_id == user.unit_id)
               for p in document.parties)


def get_document(user: User, document_id: int) -> Document:
    document = db.session.get(Document, document_id)
    if document is None:
        raise NotFound("文件不存在")
    if not may_read(user, document):
        raise Forbidden("无权查看此文件")
    return document


def list_documents(user: User, *, kind: str | None = None, phase: str | None = None,
                   q: str | None = None, archived_only: bool = True, limit: int = 500) -> list[Document]:
    errors = {}
    if kind and kind not in KIND_LABELS:
        errors["kind"] = [f"须为 {', '.join(KIND_LABELS)} 之一。"]
    if phase and phase not in PHASE_LABELS:
        errors["phase"] = [f"须为 {', '.join(PHASE_LABELS)} 之一。"]
    if errors:
        raise Invalid("筛选条件有误", errors)
    query = sa.select(Document).order_by(Document.created_at.desc(), Document.id.desc()).limit(limit)
    if archived_only:
        query = query.where(Document.status == "ready")
    if not is_manager(user):
        query = query.where(_party_clause(user))
    if kind:
        query = query.where(Document.kind == kind)
    if phase:
        query = query.where(Document.phase == phase)
    if q:
        pattern = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(Document.title.ilike(pattern, escape="\\"))
    return list(db.session.scalars(query))


def document_dict(document: Document) -> dict[str, Any]:
    return {"id": document.id, "kind": document.kind, "title": document.title, "sha256": document.sha256,
            "created_at": document.created_at.isoformat(), "instance_id": document.instance_id,
            "phase": document.phase, "status": document.status, "progress": document.progress,
            "archived_at": document.archived_at.isoformat() if document.archived_at else None,
            "parties": [{"role": p.role, "unit": p.unit.code if p.unit else None,
                         "user": p.user.username if p.user else None} for p in document.parties]}


def status_dict(document: Document) -> dict[str, Any]:
    return {"id": document.id, "status": document.status, "progress": document.progress,
            "error": document.error if document.status == "failed" else None, "sha256": document.sha256}


# ----------------------------------------------------------------------------- verifying

@dataclass
class VerifyResult:
    verification: pdf.Verification
    document: Document | None

    def as_dict(self) -> dict[str, Any]:
        v = self.verification
        return {
            "intact": v.intact, "valid": v.valid, "sha256": v.sha256, "error": v.error,
            "signers": [{"name": s.name, "subject": s.signer, "field": s.field, "intact": s.intact,
                         "valid": s.valid, "trusted": s.trusted, "bottom_line": s.bottom_line,
                         "signed_at": s.signed_at.isoformat() if s.signed_at else None, "summary": s.summary}
                        for s in v.signatures],
            "matches_archive": self.document is not None,
            "document_id": self.document.id if self.document else None,
        }


def verify_limit() -> int:
    return int(current_app.config["VERIFY_MAX_BYTES"])


def verify_upload(data: bytes | None) -> VerifyResult:
    """Check an uploaded PDF: intact, who signed, and whether it is byte for byte an archived file."""
    if not data:
        raise Invalid("请上传 PDF 文件（表单字段 file）", {"file": ["缺少文件。"]})
    limit = verify_limit()
    if len(data) > limit:
        raise Invalid("文件过大", {"file": [f"不能超过 {limit // (1024 * 1024)} MB。"]})
    try:
        verification = pdf.verify(data, trust_roots())
    except pdf.NotAPdf:
        raise Invalid("不是 PDF 文件", {"file": ["只能验证 PDF 文件。"]}) from None
    owner = db.session.scalar(sa.select(DocumentRevision.document_id)
                              .where(DocumentRevision.sha256 == verification.sha256))
    return VerifyResult(verification, db.session.get(Document, owner) if owner else None)


def by_code(code: str) -> Document:
    """The archive record a printed verification code (or its QR code) names; the code is the key."""
    document = db.session.scalar(sa.select(Document).where(Document.verification_code == code.strip().upper()))
    if document is None:
        raise NotFound("验证码不存在")
    return document


def party_units(document: Document) -> list[Unit]:
    return [p.unit for p in document.parties if p.unit is not None]


def process_name(instance_id: int | None) -> str:
    instance = db.session.get(ProcessInstance, instance_id) if instance_id else None
    return instance.spec.name if instance is not None else ""
