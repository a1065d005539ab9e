"""Meeting pages (项目会议): list, setting one up, the meeting with its minutes, drafting, follow-ups."""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user, login_required

from app.database import write_transaction
from app.extensions import db
from app.inbox import context
from app.meetings import bp
from app.models import Meeting, User
from app.services import documents, instances, meetings
from app.services import tasks as task_service
from app.services.errors import Invalid, ServiceError


def _people() -> list[User]:
    return list(db.session.scalars(sa.select(User).where(User.active).order_by(User.username)))


@bp.route("/meetings")
@login_required
def index() -> ResponseReturnValue:
    return render_template("meetings/index.html", meetings=meetings.list_meetings(current_user),
                           kinds=meetings.KIND_LABELS, statuses=meetings.STATUS_LABELS,
                           may_host=meetings.may_host(current_user))


@bp.route("/meetings/new", methods=["GET", "POST"])
@login_required
def new() -> ResponseReturnValue:
    if not meetings.may_host(current_user):
        abort(403)
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        payload = {**request.form.to_dict(), "participants": request.form.getlist("participants")}
        try:
            with write_transaction():
                meeting = meetings.create(current_user, payload)
            flash(_("会议已发起，记录人将起草纪要。"), "success")
            return redirect(url_for("meetings.show", meeting_id=meeting.id))
        except Invalid as exc:
            errors = exc.errors
        except ServiceError as exc:
            abort(exc.status)
    values: dict[str, Any] = request.form.to_dict()
    values["participants"] = request.form.getlist("participants")
    return render_template("meetings/new.html", errors=errors, values=values, people=_people(),
                           kinds=meetings.KIND_LABELS, phases=documents.PHASE_LABELS), 422 if errors else 200


def _meeting(meeting_id: int) -> Meeting:
    try:
        return meetings.get(current_user, meeting_id)
    except ServiceError as exc:
        abort(exc.status)


@bp.route("/meetings/<int:meeting_id>")
@login_required
def show(meeting_id: int) -> ResponseReturnValue:
    meeting = _meeting(meeting_id)
    open_tasks = instances.open_tasks(meeting.instance_id)
    return render_template("meetings/show.html", meeting=meeting, open_tasks=open_tasks,
                           kinds=meetings.KIND_LABELS, statuses=meetings.STATUS_LABELS,
                           item_statuses=meetings.ITEM_STATUS_LABELS, confirmed=meetings.confirmations(meeting),
                           returns=meetings.returns(meeting), document=meeting.document,
                           may_act=lambda t: task_service.may_act(current_user, t))


def _draft_payload(form: Any) -> dict[str, Any]:
    decisions = [line for line in form.get("decisions", "").splitlines() if line.strip()]
    items = []
    for n in range(int(form.get("item_rows", "0") or 0)):
        content, owner, due = (form.get(f"item-{n}-{k}", "").strip() for k in ("content", "owner", "due"))
        if content or owner or due:
            items.append({"content": content, "owner": owner, "due": due})
    return {"summary": form.get("summary", ""), "decisions": decisions, "action_items": items}


@bp.route("/meetings/tasks/<int:task_id>", methods=["GET", "POST"])
@login_required
def draft(task_id: int) -> ResponseReturnValue:
    """The recorder's page: the minutes with their decisions and action items."""
    try:
        task = task_service.get_task(current_user, task_id)
        meeting = meetings.get(current_user, meetings.meeting_of_task(task))
    except ServiceError as exc:
        abort(exc.status)
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        submit = request.form.get("action") == "submit"
        try:
            with write_transaction():
                meetings.save_draft(current_user, meeting.id, _draft_payload(request.form), submit=submit)
            if submit:
                flash(_("纪要已提交，等待参会人员确认。"), "success")
                return redirect(url_for("meetings.show", meeting_id=meeting.id))
            flash(_("草稿已保存。"), "info")
            return redirect(url_for("meetings.draft", task_id=task_id))
        except Invalid as exc:
            errors = exc.errors
        except ServiceError as exc:
            flash(exc.message, "danger")
            return redirect(url_for("meetings.show", meeting_id=meeting.id))
    if request.method == "POST":
        payload = _draft_payload(request.form)
        items = payload["action_items"]
        values = {"summary": payload["summary"], "decisions": "\n".join(payload["decisions"])}
    else:
        items = [{"content": i.content, "owner": i.owner.username, "due": i.due_on.isoformat()}
                 for i in meeting.action_items]
        values = {"summary": meeting.summary, "decisions": "\n".join(meeting.decisions)}
    people = [meeting.host, meeting.recorder, *[p.user for p in meeting.participants]]
    return render_template("meetings/draft.html", task=task, meeting=meeting, errors=errors, values=values,
                           items=items + [{"content": "", "owner": "", "due": ""}] * 3,
                           people=list(dict.fromkeys(people)), returns=meetings.returns(meeting),
                           can_act=task.status == "open" and task_service.may_act(current_user, task)
                           ), 422 if errors else 200


@bp.route("/action-items")
@login_required
def action_items() -> ResponseReturnValue:
    status = request.args.get("status") or None
    mine = request.args.get("mine") == "1"
    try:
        items = meetings.list_items(current_user, status=status, mine=mine)
    except Invalid:
        return redirect(url_for("meetings.action_items"))
    return render_template("meetings/action_items.html", items=items, status=status, mine=mine,
                           statuses=meetings.ITEM_STATUS_LABELS, today=meetings.today())


@bp.route("/action-items/<int:item_id>/done", methods=["POST"])
@login_required
def item_done(item_id: int) -> ResponseReturnValue:
    try:
        with write_transaction():
            meetings.mark_done(current_user, item_id, request.form.get("note"))
        flash(_("已办结。"), "success")
    except Invalid as exc:
        flash(exc.message, "warning")
    except ServiceError as exc:
        if exc.status == 409:
            flash(exc.message, "warning")
        else:
            abort(exc.status)
    back = request.form.get("next", "")
    local = back.startswith("/") and not back.startswith("//") and "\\" not in back
    return redirect(back if local else url_for("meetings.action_items", mine=1))


@context.panel("meeting")
def _meeting_panel(user: User, meeting_id: int) -> dict[str, Any]:
    """Beside a meeting's tasks: the meeting, its draft minutes and the confirmations so far."""
    return {"meeting": meetings.get(user, meeting_id), "panels": ["meetings/_summary.html"]}
