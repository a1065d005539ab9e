"""Engineering change orders (工程变更, MISSION B5), BPMN ``engineering_change``.

A party files a change request naming the contractor, supervisor and owner units. Each party
surveys and agrees (a user of that unit holding that party's role acts for it); a larger change
adds a leader's approval; the owner confirms; every party signs. Then the change is executable
and its signed 工程变更单 is archived.
"""
from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import cn2an
import sqlalchemy as sa
from flask import current_app

from app.extensions import db
from app.i18n import N_
from app.models import ChangeOrder, DocumentKind, HumanTask, Phase, ProcessEvent, ProcessInstance, Role, Unit, User
from app.services import documents, instances
from app.services import tasks as task_service
from app.services.errors import Conflict, Forbidden, Invalid, NotFound
from app.workflow import hooks, runtime

PROCESS = "engineering_change"
PARTY_KEYS = ("contractor", "supervisor", "owner")
PARTY_ROLES = {"contractor": Role.CONTRACTOR, "supervisor": Role.SUPERVISOR, "owner": Role.OWNER}
PARTY_LABELS = {"contractor": N_("施工单位"), "supervisor": N_("监理单位"), "owner": N_("建设单位")}
STATUS_LABELS = {"surveying": N_("各方会勘"), "leader_approval": N_("领导审批"), "owner_review": N_("建设单位审核"),
                 "signing": N_("各方会签"), "returned": N_("退回修改"), "executable": N_("可实施"),
                 "withdrawn": N_("已撤回")}
REVISE_TASK = "revise"
MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
LIMITS = {"title": 200, "project": 200, "reason": 5000, "content": 10000}


# ----------------------------------------------------------------------------- validation

def _text(payload: dict[str, Any], name: str, errors: dict[str, list[str]]) -> str:
    value = payload.get(name)
    value = value.strip() if isinstance(value, str) else ""
    if not value:
        errors[name] = ["不能为空。"]
    elif len(value) > LIMITS[name]:
        errors[name] = [f"最多 {LIMITS[name]} 个字符。"]
    return value


def _money(raw: Any, name: str, errors: dict[str, list[str]], *, positive: bool) -> Decimal:
    """Amounts in yuan with at most two decimals, exact (JSON numbers are read as text, never float)."""
    if isinstance(raw, bool) or raw is None or raw == "":
        errors[name] = ["须填写金额。"]
        return Decimal(0)
    try:
        value = Decimal(str(raw).replace(",", "").strip())
    except InvalidOperation:
        errors[name] = ["须为数字（元）。"]
        return Decimal(0)
    if not value.is_finite() or value != value.quantize(Decimal("0.01")) or abs(value) >= Decimal("1e13"):
        errors[name] = ["须为最多两位小数的金额（元）。"]
    elif positive and value <= 0:
        errors[name] = ["须大于 0。"]
    return value


def percent(contract: Decimal, change: Decimal) -> Decimal:
    return (change * 100 / contract).quantize(Decimal("0.01")) if contract else Decimal(0)


def needs_leader(contract: Decimal, change: Decimal) -> bool:
    """Larger changes (over CHANGE_LEADER_PERCENT of the contract or CHANGE_LEADER_AMOUNT yuan) add a leader."""
    limit_pct = Decimal(str(current_app.config["CHANGE_LEADER_PERCENT"]))
    limit_amount = Decimal(str(current_app.config["CHANGE_LEADER_AMOUNT"]))
    return abs(change) > limit_amount or abs(change) * 100 > contract * limit_pct


@dataclass
class ChangeInput:
    title: str
    project: str
    reason: str
    content: str
    contract: Decimal
    change: Decimal
    units: dict[str, Unit]
    phase: str


def parse(payload: Any) -> ChangeInput:
    if not isinstance(payload, dict):
        raise Invalid("请求格式错误", {"body": ["须为 JSON 对象。"]})
    errors: dict[str, list[str]] = {}
    texts = {name: _text(payload, name, errors) for name in LIMITS}
    amount = payload.get("amount")
    if not isinstance(amount, dict):
        errors["amount"] = ["须为 {contract, change}（元）。"]
        amount = {}
    contract = _money(amount.get("contract"), "amount.contract", errors, positive=True)
    change = _money(amount.get("change"), "amount.change", errors, positive=False)
    parties = payload.get("parties")
    units: dict[str, Unit] = {}
    if not isinstance(parties, dict):
        errors["parties"] = ["须为 {contractor, supervisor, owner}（单位编码）。"]
        parties = {}
    for key in PARTY_KEYS:
        code = parties.get(key)
        code = code.strip() if isinstance(code, str) else ""
        unit = db.session.scalar(sa.select(Unit).where(Unit.code == code)) if code else None
        if not code:
            errors[f"parties.{key}"] = ["须填写单位编码。"]
        elif unit is None or not unit.active:
            errors[f"parties.{key}"] = [f"单位 {code} 不存在或已停用。"]
        else:
            units[key] = unit
    phase = payload.get("phase") or Phase.CHANGES
    if phase not in documents.PHASE_LABELS:
        errors["phase"] = [f"须为 {', '.join(documents.PHASE_LABELS)} 之一。"]
    if errors:
        raise Invalid("工程变更申请有误", errors)
    return ChangeInput(texts["title"], texts["project"], texts["reason"], texts["content"], contract, change,
                       units, str(phase))


# ----------------------------------------------------------------------------- who acts for which party

def party_of(user: User, order: ChangeOrder) -> str | None:
    """The party the user acts for: their unit is that party's unit and they hold its role."""
    for key in PARTY_KEYS:
        if user.unit_id == getattr(order, f"{key}_unit_id") and user.has_role(PARTY_ROLES[key]):
            return key
    return None


def may_read(user: User, order: ChangeOrder) -> bool:
    return (documents.is_manager(user) or order.initiator_id == user.id
            or user.unit_id in (order.contractor_unit_id, order.supervisor_unit_id, order.owner_unit_id))


def get(user: User, order_id: int) -> ChangeOrder:
    order = db.session.get(ChangeOrder, order_id)
    if order is None:
        raise NotFound("工程变更不存在")
    if not may_read(user, order):
        raise Forbidden("无权查看此工程变更")
    return order


def list_orders(user: User) -> list[ChangeOrder]:
    query = sa.select(ChangeOrder).order_by(ChangeOrder.id.desc()).limit(500)
    if not documents.is_manager(user):
        query = query.where(sa.or_(ChangeOrder.initiator_id == user.id, sa.and_(
            sa.literal(user.unit_id is not None),
            sa.or_(ChangeOrder.contractor_unit_id == user.unit_id, ChangeOrder.supervisor_unit_id == user.unit_id,
                   ChangeOrder.owner_unit_id == user.unit_id))))
    return list(db.session.scalars(query))


# ----------------------------------------------------------------------------- filing

def may_file(user: User) -> bool:
    return user.has_role(*PARTY_ROLES.values())


def store_attachment(name: str, data: bytes) -> dict[str, Any]:
    if len(data) > MAX_ATTACHMENT_BYTES:
        raise Invalid("附件过大", {"attachments": [f"{name} 超过 10 MB。"]})
    digest = hashlib.sha256(data).hexdigest()
    folder = Path(current_app.config["ARCHIVE_DIR"]).parent / "attachments"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / digest
    if not target.exists():
        target.write_bytes(data)
    return {"name": Path(name).name[:200] or digest[:12], "sha256": digest, "size": len(data)}


def _start_data(order: ChangeOrder) -> dict[str, Any]:
    return {
        "change_id": order.id, "title": order.title, "initiator": order.initiator.username,
        "parties": [{"key": key, "role": PARTY_ROLES[key].value, "unit": getattr(order, f"{key}_unit").code}
                    for key in PARTY_KEYS],
        "owner_unit": order.owner_unit.code, "needs_leader": order.needs_leader,
    }


def file(user: User, payload: Any, attachments: list[tuple[str, bytes]] | None = None) -> ChangeOrder:
    """File a change request and start its process; the user must act for one of the named parties."""
    if not may_file(user):
        raise Forbidden("只有施工、监理或建设单位的用户可以提出工程变更")
    data = parse(payload)
    initiator_key = next((key for key in PARTY_KEYS
                          if user.unit_id == data.units[key].id and user.has_role(PARTY_ROLES[key])), None)
    if initiator_key is None:
        raise Forbidden("您所在单位不是此变更中您所任角色对应的参与方，不能提出此变更")
    stored = [store_attachment(name, blob) for name, blob in attachments or []]
    order = ChangeOrder(  # the number is set to BG-<year>-<id> once the insert gave the id
        number=f"tmp-{uuid.uuid4().hex[:24]}", title=data.title, project=data.project, reason=data.reason,
        content=data.content, contract_amount=data.contract, change_amount=data.change, attachments=stored,
        phase=data.phase, contractor_unit=data.units["contractor"], supervisor_unit=data.units["supervisor"],
        owner_unit=data.units["owner"], initiator=user, initiator_role=PARTY_ROLES[initiator_key].value,
        needs_leader=needs_leader(data.contract, data.change), status="surveying")
    db.session.add(order)
    db.session.flush()
    order.number = f"BG-{order.created_at.year}-{order.id:04d}"
    instance = runtime.start(PROCESS, business_key=f"change_order:{order.id}", title=f"{order.number} {order.title}",
                             user=user, data=_start_data(order))
    order.instance_id = instance.id
    db.session.flush()
    return order


def revise_task(order: ChangeOrder) -> HumanTask | None:
    return instances.open_task(order.instance_id, REVISE_TASK)


def order_of_task(task: HumanTask) -> int:
    return instances.case_id(task, "change_order", "此任务不属于工程变更")


def revise(user: User, order_id: int, payload: Any) -> ChangeOrder:
    """The initiator resubmits the returned request (edited) or withdraws it."""
    order = get(user, order_id)
    task = revise_task(order)
    if task is None:
        raise Conflict("此变更当前没有退回待修改的任务")
    if not isinstance(payload, dict):
        raise Invalid("请求格式错误", {"body": ["须为 JSON 对象。"]})
    decision = payload.get("decision")
    if decision not in ("resubmit", "withdraw"):
        raise Invalid("请选择处理方式", {"decision": ["须为 resubmit 或 withdraw。"]})
    if not task_service.may_act(user, task):
        raise Forbidden("只有申请人可以修改或撤回此变更")
    if decision == "resubmit":
        merged: dict[str, Any] = {"title": order.title, "project": order.project, "reason": order.reason,
                                  "content": order.content,
                  "amount": {"contract": str(order.contract_amount), "change": str(order.change_amount)},
                  "parties": {k: getattr(order, f"{k}_unit").code for k in PARTY_KEYS}, "phase": order.phase}
        for name in ("title", "project", "reason", "content"):
            if name in payload:
                merged[name] = payload[name]
        if isinstance(payload.get("amount"), dict):
            merged["amount"] = {**merged["amount"], **payload["amount"]}
        data = parse(merged)
        order.title, order.project, order.reason, order.content = data.title, data.project, data.reason, data.content
        order.contract_amount, order.change_amount = data.contract, data.change
        order.needs_leader = needs_leader(data.contract, data.change)
    comment = payload.get("comment")
    answer = {"decision": decision, "comment": comment if isinstance(comment, str) else None,
              "needs_leader": order.needs_leader}
    task_service.complete(user, task.id, answer, from_page=True)
    return order


# ----------------------------------------------------------------------------- following the process

@hooks.on_case_change("change_order")
def _follow(instance: ProcessInstance) -> None:
    order = db.session.get(ChangeOrder, int(str(instance.business_key).split(":", 1)[1]))
    if order is None or instance.case_status is None or order.status == instance.case_status:
        return
    order.status = instance.case_status
    if order.status == "executable":
        document = documents.create(
            kind=DocumentKind.CHANGE_ORDER, title=f"工程变更单 {order.number} {order.title}", phase=order.phase,
            case_key=f"change_order:{order.id}", instance_id=order.instance_id,
            parties=[(key, getattr(order, f"{key}_unit_id"), None) for key in PARTY_KEYS])
        order.document_id = document.id


@dataclass
class SignOff:
    key: str
    user: User | None
    decision: str | None
    opinion: str | None
    at: Any


def signoffs(order: ChangeOrder, bpmn_id: str) -> dict[str, SignOff]:
    """Each party's latest recorded completion of a multi-instance step (``survey`` or ``sign``)."""
    if order.instance_id is None:
        return {}
    rows = db.session.execute(
        sa.select(ProcessEvent, HumanTask.role).join(HumanTask, HumanTask.id == ProcessEvent.task_id)
        .where(ProcessEvent.instance_id == order.instance_id, ProcessEvent.type == "completed",
               ProcessEvent.bpmn_id == bpmn_id).order_by(ProcessEvent.id))
    found: dict[str, SignOff] = {}
    for event, role in rows:
        key = next((k for k, r in PARTY_ROLES.items() if r == role), None)
        if key is not None:
            found[key] = SignOff(key, event.user, event.decision, event.comment, event.at)
    return found


def last_review(order: ChangeOrder, bpmn_id: str) -> ProcessEvent | None:
    if order.instance_id is None:
        return None
    return db.session.scalar(sa.select(ProcessEvent).where(
        ProcessEvent.instance_id == order.instance_id, ProcessEvent.type == "completed",
        ProcessEvent.bpmn_id == bpmn_id).order_by(ProcessEvent.id.desc()).limit(1))


def returns(order: ChangeOrder) -> list[ProcessEvent]:
    """The disagreements since the request was last (re)submitted: what the initiator must address."""
    return instances.disagreements_since(order.instance_id, REVISE_TASK)


def _paragraphs(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def _yuan(value: Decimal) -> str:
    return f"{value:,.2f}"


@documents.renderer(DocumentKind.CHANGE_ORDER)
def layout(document: Any) -> documents.Layout:
    order = db.session.scalar(sa.select(ChangeOrder).where(ChangeOrder.document_id == document.id))
    if order is None:
        raise RuntimeError(f"document {document.id} has no change order")
    signed = signoffs(order, "sign")
    parties, boxes = [], []
    for key in PARTY_KEYS:
        unit = getattr(order, f"{key}_unit")
        s = signed.get(key)
        if s is None or s.decision != "agree":
            raise RuntimeError(f"{order.number}: {key} has not signed")
        own = documents.party_identity(unit.code) is not None
        signer = s.user.name if s.user else ""
        parties.append({"label": PARTY_LABELS[key], "unit": unit.name, "decision": "同意", "opinion": s.opinion or "",
                        "signer": signer, "date": documents.chinese_date(s.at),
                        "signed_at": documents.local(s.at), "own_cert": own, "box_id": f"sig_{key}"})
        if own:
            boxes.append(documents.PartyBox(f"sig_{key}", key, unit.code, signer, unit.name, s.opinion or "同意"))
    reviews = []
    for bpmn_id, step in (("leader_approval", "领导审批"), ("owner_review", "建设单位审核确认")):
        event = last_review(order, bpmn_id)
        if event is not None:
            who = event.user
            opinion = event.comment or documents.DECISION_LABELS.get(event.decision or "", "")
            reviews.append({"step": step, "opinion": opinion,
                            "who": who.name if who else "", "unit": who.unit.name if who and who.unit else "",
                            "date": documents.chinese_date(event.at)})
    initiator_unit = order.initiator.unit.name if order.initiator.unit else ""
    doc = {
        "number": order.number, "project": order.project, "title": order.title, "initiator_unit": initiator_unit,
        "initiator": order.initiator.name, "filed_on": documents.chinese_date(order.created_at),
        "category": "重大变更（经领导审批）" if order.needs_leader else "一般变更",
        "contract_amount": _yuan(order.contract_amount), "change_amount": _yuan(order.change_amount),
        "percent": str(percent(order.contract_amount, order.change_amount)),
        "change_amount_words": cn2an.an2cn(str(order.change_amount), "rmb"),
        "reason": _paragraphs(order.reason), "content": _paragraphs(order.content),
        "attachments": order.attachments or [], "reviews": reviews,
    }
    context = {"doc": doc, "parties": parties, "evidence": documents.evidence(document, "工程变更")}
    return documents.Layout("change_order", context, boxes)


def order_dict(order: ChangeOrder) -> dict[str, Any]:
    return {
        "id": order.id, "number": order.number, "title": order.title, "project": order.project,
        "reason": order.reason, "content": order.content,
        "amount": {"contract": str(order.contract_amount), "change": str(order.change_amount),
                   "percent": str(percent(order.contract_amount, order.change_amount))},
        "parties": {k: getattr(order, f"{k}_unit").code for k in PARTY_KEYS},
        "initiator": order.initiator.username, "needs_leader": order.needs_leader, "status": order.status,
        "phase": order.phase, "attachments": order.attachments or [], "instance_id": order.instance_id,
        "document_id": order.document_id, "created_at": order.created_at.isoformat(),
    }
