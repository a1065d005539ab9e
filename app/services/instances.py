"""Process instance pages: who may look, what the diagram marks, and the history."""
from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from app.extensions import db
from app.models import HumanTask, ProcessEvent, ProcessInstance, TaskStatus, User
from app.services.errors import Forbidden, NotFound
from app.services.tasks import may_see


@dataclass
class InstanceView:
    instance: ProcessInstance
    open_tasks: list[HumanTask]
    events: list[ProcessEvent]

    @property
    def current_ids(self) -> list[str]:
        return sorted({t.bpmn_id for t in self.open_tasks})

    @property
    def completed_ids(self) -> list[str]:
        return sorted(set(self.instance.trail) - set(self.current_ids))


def involved(user: User, instance: ProcessInstance, open_tasks: list[HumanTask]) -> bool:
    """Admins, the starter, anyone who acted on it, and anyone who may work one of its open tasks."""
    if user.is_admin or instance.started_by_id == user.id:
        return True
    if any(may_see(user, t) for t in open_tasks):
        return True
    acted = sa.select(ProcessEvent.id).where(ProcessEvent.instance_id == instance.id,
                                             ProcessEvent.user_id == user.id).limit(1)
    held = sa.select(HumanTask.id).where(HumanTask.instance_id == instance.id, sa.or_(
        HumanTask.assignee_id == user.id, HumanTask.completed_by_id == user.id)).limit(1)
    return db.session.scalar(acted) is not None or db.session.scalar(held) is not None


def get_instance(user: User, instance_id: int) -> InstanceView:
    instance = db.session.get(ProcessInstance, instance_id)
    if instance is None:
        raise NotFound("流程实例不存在")
    open_tasks = list(db.session.scalars(
        sa.select(HumanTask).where(HumanTask.instance_id == instance.id, HumanTask.status == TaskStatus.OPEN)
        .order_by(HumanTask.id)))
    if not involved(user, instance, open_tasks):
        raise Forbidden("无权查看此流程")
    events = list(db.session.scalars(
        sa.select(ProcessEvent).where(ProcessEvent.instance_id == instance.id).order_by(ProcessEvent.id)))
    return InstanceView(instance, open_tasks, events)


# ----------------------------------------------------------------------------- helpers for case services

def open_tasks(instance_id: int | None) -> list[HumanTask]:
    if instance_id is None:
        return []
    return list(db.session.scalars(sa.select(HumanTask).where(
        HumanTask.instance_id == instance_id, HumanTask.status == TaskStatus.OPEN).order_by(HumanTask.id)))


def open_task(instance_id: int | None, bpmn_id: str) -> HumanTask | None:
    """The open task of one BPMN user task (e.g. the initiator's revision) of a case, if any."""
    return next((t for t in open_tasks(instance_id) if t.bpmn_id == bpmn_id), None)


def case_id(task: HumanTask, kind: str, message: str) -> int:
    """The id in the business key ``<kind>:<id>`` of a task's instance; NotFound(message) for another kind."""
    found, _sep, ident = (task.instance.business_key or "").partition(":")
    if found != kind or not ident.isdigit():
        raise NotFound(message)
    return int(ident)


def disagreements_since(instance_id: int | None, bpmn_id: str) -> list[ProcessEvent]:
    """The ``disagree`` completions after the last completion of ``bpmn_id`` (e.g. since the request was
    resubmitted): what the person who must revise has to address."""
    if instance_id is None:
        return []
    events = list(db.session.scalars(sa.select(ProcessEvent).where(
        ProcessEvent.instance_id == instance_id, ProcessEvent.type == "completed").order_by(ProcessEvent.id)))
    since = max((i for i, e in enumerate(events) if e.bpmn_id == bpmn_id), default=-1)
    return [e for e in events[since + 1:] if e.decision == "disagree"]
