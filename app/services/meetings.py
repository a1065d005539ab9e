"""Project meetings and their minutes (项目会议, MISSION B4), BPMN ``meeting_minutes``.

The host sets up the meeting with a named recorder and the participants; the recorder drafts the
minutes (summary, decisions, action items with owners and due dates); every participant confirms
or disagrees; the host archives them. Archived action items are tracked until their owners close them.
"""
from __future__ import annotations

from datetime import date, datetime
from typing import Any

import cn2an
import sqlalchemy as sa

from app.extensions import db
from app.i18n import N_
from app.models import (
    ActionItem,
    DocumentKind,
    HumanTask,
    Meeting,
    MeetingParticipant,
    Phase,
    ProcessEvent,
    ProcessInstance,
    Role,
    User,
)
from app.models.base import utcnow
from app.services import documents, instances
from app.services import tasks as task_service
from app.services.errors import Conflict, Forbidden, Invalid, NotFound
from app.workdays import SHANGHAI
from app.workflow import hooks, runtime

PROCESS = "meeting_minutes"
DRAFT_TASK = "draft"
KIND_LABELS = {"regular": N_("例会"), "adhoc": N_("专题会议")}
STATUS_LABELS = {"drafting": N_("起草纪要"), "confirming": N_("各方确认"), "archiving": N_("待归档"),
                 "archived": N_("已归档")}
ITEM_STATUS_LABELS = {"draft": N_("草拟"), "open": N_("进行中"), "done": N_("已完成")}
HOST_ROLES = (Role.ADMIN, Role.ASSESSMENT_MANAGER, Role.LEADER, Role.QUALITY_TEAM, Role.CONTRACTOR,
              Role.SUPERVISOR, Role.OWNER)
MAX_PARTICIPANTS = 50


def _user(username: Any) -> User | None:
    if not isinstance(username, str) or not username.strip():
        return None
    user = db.session.scalar(sa.select(User).where(User.username == username.strip()))
    return user if user is not None and user.active else None


def _text(payload: dict[str, Any], name: str, limit: int, errors: dict[str, list[str]], required: bool = True) -> str:
    value = payload.get(name)
    value = value.strip() if isinstance(value, str) else ""
    if required and not value:
        errors[name] = ["不能为空。"]
    elif len(value) > limit:
        errors[name] = [f"最多 {limit} 个字符。"]
    return value


def _held_at(raw: Any, errors: dict[str, list[str]]) -> datetime:
    """ISO date-time; without a zone it is Beijing time, as people write it."""
    try:
        value = datetime.fromisoformat(str(raw).strip()) if isinstance(raw, str) and raw.strip() else None
    except ValueError:
        value = None
    if value is None:
        errors["held_at"] = ["须为日期时间，如 2027-03-05T09:30。"]
        return utcnow()
    return value if value.tzinfo else value.replace(tzinfo=SHANGHAI)


def may_host(user: User) -> bool:
    return user.has_role(*HOST_ROLES)


def create(user: User, payload: Any) -> Meeting:
    if not may_host(user):
        raise Forbidden("您的角色不能发起会议")
    if not isinstance(payload, dict):
        raise Invalid("请求格式错误", {"body": ["须为 JSON 对象。"]})
    errors: dict[str, list[str]] = {}
    title = _text(payload, "title", 200, errors)
    location = _text(payload, "location", 200, errors)
    agenda = _text(payload, "agenda", 5000, errors)
    kind = payload.get("kind")
    if kind not in KIND_LABELS:
        errors["kind"] = ["须为 regular（例会）或 adhoc（专题会议）。"]
    held_at = _held_at(payload.get("held_at"), errors)
    recorder = _user(payload.get("recorder"))
    if recorder is None:
        errors["recorder"] = [f"用户 {payload.get('recorder')!s} 不存在或已停用。"]
    raw = payload.get("participants")
    participants: list[User] = []
    if not isinstance(raw, list) or not raw:
        errors["participants"] = ["须列出至少一名参会人员（用户名）。"]
    elif len(raw) > MAX_PARTICIPANTS:
        errors["participants"] = [f"最多 {MAX_PARTICIPANTS} 人。"]
    else:
        for n, name in enumerate(raw):
            found = _user(name)
            if found is None:
                errors[f"participants[{n}]"] = [f"用户 {name!s} 不存在或已停用。"]
            elif found in participants:
                errors[f"participants[{n}]"] = [f"{name} 重复。"]
            else:
                participants.append(found)
    phase = payload.get("phase") or Phase.OPERATION
    if phase not in documents.PHASE_LABELS:
        errors["phase"] = [f"须为 {', '.join(documents.PHASE_LABELS)} 之一。"]
    if errors:
        raise Invalid("会议信息有误", errors)
    assert recorder is not None
    meeting = Meeting(title=title, kind=str(kind), held_at=held_at, location=location, agenda=agenda, phase=str(phase),
                      host=user, recorder=recorder, status="drafting",
                      participants=[MeetingParticipant(user=p, position=i) for i, p in enumerate(participants)])
    db.session.add(meeting)
    db.session.flush()
    instance = runtime.start(PROCESS, business_key=f"meeting:{meeting.id}", title=meeting.title, user=user, data={
        "meeting_id": meeting.id, "host": user.username, "recorder": recorder.username,
        "participants": [p.username for p in participants]})
    meeting.instance_id = instance.id
    db.session.flush()
    return meeting


def involved(user: User, meeting: Meeting) -> bool:
    return (meeting.host_id == user.id or meeting.recorder_id == user.id
            or any(p.user_id == user.id for p in meeting.participants))


def get(user: User, meeting_id: int) -> Meeting:
    meeting = db.session.get(Meeting, meeting_id)
    if meeting is None:
        raise NotFound("会议不存在")
    if not (documents.is_manager(user) or involved(user, meeting)):
        raise Forbidden("无权查看此会议")
    return meeting


def list_meetings(user: User) -> list[Meeting]:
    query = sa.select(Meeting).order_by(Meeting.held_at.desc(), Meeting.id.desc()).limit(500)
    if not documents.is_manager(user):
        query = query.where(sa.or_(Meeting.host_id == user.id, Meeting.recorder_id == user.id, Meeting.id.in_(
            sa.select(MeetingParticipant.meeting_id).where(MeetingParticipant.user_id == user.id))))
    return list(db.session.scalars(query))


# ----------------------------------------------------------------------------- drafting

def draft_task(meeting: Meeting) -> HumanTask | None:
    return instances.open_task(meeting.instance_id, DRAFT_TASK)


def meeting_of_task(task: HumanTask) -> int:
    return instances.case_id(task, "meeting", "此任务不属于会议纪要")


def _items(raw: Any, errors: dict[str, list[str]]) -> list[tuple[str, User, date]]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        errors["action_items"] = ["须为 [{content, owner, due}] 列表。"]
        return []
    items = []
    for n, item in enumerate(raw):
        key = f"action_items[{n}]"
        if not isinstance(item, dict):
            errors[key] = ["须为 {content, owner, due}。"]
            continue
        content = item.get("content")
        content = content.strip() if isinstance(content, str) else ""
        owner = _user(item.get("owner"))
        try:
            due = date.fromisoformat(str(item.get("due") or "").strip())
        except ValueError:
            due = None
        if not content or len(content) > 1000:
            errors[f"{key}.content"] = ["须填写事项（最多 1000 字）。"]
        if owner is None:
            errors[f"{key}.owner"] = [f"用户 {item.get('owner')!s} 不存在或已停用。"]
        if due is None:
            errors[f"{key}.due"] = ["须为日期，如 2027-03-31。"]
        if content and owner is not None and due is not None:
            items.append((content, owner, due))
    return items


def save_draft(user: User, meeting_id: int, payload: Any, *, submit: bool) -> Meeting:
    """The recorder writes the minutes; ``submit`` completes the drafting task (to the participants)."""
    meeting = get(user, meeting_id)
    task = draft_task(meeting)
    if task is None:
        raise Conflict("此会议当前没有待起草的纪要")
    if not task_service.may_act(user, task):
        raise Forbidden("只有记录人可以起草会议纪要")
    if not isinstance(payload, dict):
        raise Invalid("请求格式错误", {"body": ["须为 JSON 对象。"]})
    errors: dict[str, list[str]] = {}
    summary = _text(payload, "summary", 20000, errors, required=submit)
    raw_decisions = payload.get("decisions")
    decisions = [d.strip() for d in raw_decisions if isinstance(d, str) and d.strip()] \
        if isinstance(raw_decisions, list) else []
    if raw_decisions is not None and not isinstance(raw_decisions, list):
        errors["decisions"] = ["须为文字列表。"]
    elif submit and not decisions:
        errors["decisions"] = ["至少写明一项议定事项。"]
    items = _items(payload.get("action_items"), errors)
    if errors:
        raise Invalid("会议纪要有误", errors)
    meeting.summary, meeting.decisions = summary, decisions
    meeting.action_items.clear()
    db.session.flush()
    for n, (content, owner, due) in enumerate(items):
        meeting.action_items.append(ActionItem(position=n, content=content, owner=owner, due_on=due, status="draft"))
    if submit:
        task_service.complete(user, task.id, {}, from_page=True)
    db.session.flush()
    return meeting


def returns(meeting: Meeting) -> list[ProcessEvent]:
    """Disagreements since the last draft was submitted: what the recorder must address."""
    return instances.disagreements_since(meeting.instance_id, DRAFT_TASK)


# ----------------------------------------------------------------------------- follow-ups

def list_items(user: User, *, status: str | None = None, mine: bool = False) -> list[ActionItem]:
    query = (sa.select(ActionItem).join(Meeting).where(ActionItem.status != "draft")
             .order_by(ActionItem.status, ActionItem.due_on, ActionItem.id))
    if status:
        if status not in ITEM_STATUS_LABELS:
            raise Invalid("状态有误", {"status": [f"须为 {', '.join(ITEM_STATUS_LABELS)} 之一。"]})
        query = query.where(ActionItem.status == status)
    if mine or not documents.is_manager(user):
        visible = sa.or_(ActionItem.owner_id == user.id, Meeting.host_id == user.id, Meeting.recorder_id == user.id,
                         Meeting.id.in_(sa.select(MeetingParticipant.meeting_id)
                                        .where(MeetingParticipant.user_id == user.id)))
        query = query.where(ActionItem.owner_id == user.id if mine else visible)
    return list(db.session.scalars(query.limit(1000)))


def mark_done(user: User, item_id: int, note: Any = None) -> ActionItem:
    item = db.session.get(ActionItem, item_id)
    if item is None or item.status == "draft":
        raise NotFound("督办事项不存在")
    if item.owner_id != user.id:
        raise Forbidden("只有责任人可以办结此事项")
    if item.status == "done":
        raise Conflict("此事项已办结")
    text = note.strip() if isinstance(note, str) else ""
    if len(text) > 1000:
        raise Invalid("说明过长", {"note": ["最多 1000 个字符。"]})
    item.status, item.done_at, item.note = "done", utcnow(), text or None
    db.session.flush()
    return item


def today() -> date:
    return datetime.now(SHANGHAI).date()


def item_dict(item: ActionItem) -> dict[str, Any]:
    return {"id": item.id, "meeting_id": item.meeting_id, "content": item.content, "owner": item.owner.username,
            "owner_name": item.owner.name, "due": item.due_on.isoformat(), "status": item.status,
            "overdue": item.status == "open" and item.due_on < today(),
            "done_at": item.done_at.isoformat() if item.done_at else None, "note": item.note}


# ----------------------------------------------------------------------------- following the process

@hooks.on_case_change("meeting")
def _follow(instance: ProcessInstance) -> None:
    meeting = db.session.get(Meeting, int(str(instance.business_key).split(":", 1)[1]))
    if meeting is None or instance.case_status is None or meeting.status == instance.case_status:
        return
    meeting.status = instance.case_status
    if meeting.status == "archived":
        for item in meeting.action_items:
            item.status = "open"
        people = [("host", meeting.host_id), ("recorder", meeting.recorder_id)]
        people += [("participant", p.user_id) for p in meeting.participants]
        document = documents.create(
            kind=DocumentKind.MEETING_MINUTES, title=f"{meeting.title}纪要", phase=meeting.phase,
            case_key=f"meeting:{meeting.id}", instance_id=meeting.instance_id,
            parties=[(role, None, user_id) for role, user_id in people])
        meeting.document_id = document.id


def confirmations(meeting: Meeting) -> dict[int, ProcessEvent]:
    """Each participant's latest confirmation (the round that passed)."""
    if meeting.instance_id is None:
        return {}
    events = db.session.scalars(sa.select(ProcessEvent).where(
        ProcessEvent.instance_id == meeting.instance_id, ProcessEvent.type == "completed",
        ProcessEvent.bpmn_id == "confirm").order_by(ProcessEvent.id))
    return {e.user_id: e for e in events if e.user_id is not None}


@documents.renderer(DocumentKind.MEETING_MINUTES)
def layout(document: Any) -> documents.Layout:
    meeting = db.session.scalar(sa.select(Meeting).where(Meeting.document_id == document.id))
    if meeting is None:
        raise RuntimeError(f"document {document.id} has no meeting")
    confirmed = confirmations(meeting)
    archive_event = db.session.scalar(sa.select(ProcessEvent).where(
        ProcessEvent.instance_id == meeting.instance_id, ProcessEvent.bpmn_id == "archive",
        ProcessEvent.type == "completed").order_by(ProcessEvent.id.desc()).limit(1))
    issued = archive_event.at if archive_event else utcnow()

    def person(user: User) -> str:
        return f"{user.name}（{user.unit.name}）" if user.unit else user.name

    signers = []
    for p in meeting.participants:
        event = confirmed.get(p.user_id)
        signers.append({"name": p.user.name, "unit": p.user.unit.name if p.user.unit else "",
                        "opinion": (event.comment if event and event.comment else "同意"),
                        "at": documents.local(event.at) if event else ""})
    context = {
        "m": {
            "title": meeting.title, "kind": KIND_LABELS.get(meeting.kind, meeting.kind),
            "held_at": documents.local(meeting.held_at, "%Y年%m月%d日 %H:%M"),
            "location": meeting.location, "host": person(meeting.host), "recorder": person(meeting.recorder),
            "attendees": "、".join(person(p.user) for p in meeting.participants), "agenda": meeting.agenda,
            "summary": [line.strip() for line in meeting.summary.splitlines() if line.strip()],
            "decisions": [(cn2an.an2cn(n), text) for n, text in enumerate(meeting.decisions, 1)],
            "action_items": [{"content": i.content, "owner": i.owner.name, "due": documents.chinese_date(
                datetime.combine(i.due_on, datetime.min.time(), SHANGHAI))} for i in meeting.action_items],
            "issuer": meeting.host.unit.name if meeting.host.unit else meeting.host.name,
            "issued_on": documents.chinese_date(issued),
        },
        "signers": signers,
        "evidence": documents.evidence(document, "会议纪要"),
    }
    return documents.Layout("meeting_minutes", context, [])


def meeting_dict(meeting: Meeting) -> dict[str, Any]:
    return {
        "id": meeting.id, "title": meeting.title, "kind": meeting.kind, "held_at": meeting.held_at.isoformat(),
        "location": meeting.location, "agenda": meeting.agenda, "host": meeting.host.username,
        "recorder": meeting.recorder.username, "participants": [p.user.username for p in meeting.participants],
        "summary": meeting.summary, "decisions": meeting.decisions, "phase": meeting.phase,
        "action_items": [item_dict(i) for i in meeting.action_items], "status": meeting.status,
        "instance_id": meeting.instance_id, "document_id": meeting.document_id,
        "created_at": meeting.created_at.isoformat(),
    }
