"""JSON shapes of the API."""
from __future__ import annotations

from typing import Any

from app.models import HumanTask, ProcessEvent, ProcessInstance


def task_dict(task: HumanTask) -> dict[str, Any]:
    return {
        "id": task.id, "name": task.name, "bpmn_id": task.bpmn_id, "process_id": task.process_id,
        "instance_id": task.instance_id,
        "title": task.title, "lane": task.lane, "role": task.role, "status": task.status,
        "assignee": task.assignee.username if task.assignee else None,
        "unit": task.candidate_unit.code if task.candidate_unit else None,
        "due_at": task.due_at.isoformat() if task.due_at else None, "form_key": task.form_key,
        "priority": task.priority, "created_at": task.created_at.isoformat(),
        "completed_by": task.completed_by.username if task.completed_by else None,
        "completed_at": task.completed_at.isoformat() if task.completed_at else None,
    }


def event_dict(event: ProcessEvent) -> dict[str, Any]:
    return {
        "at": event.at.isoformat(), "user": event.user.username if event.user else None,
        "user_name": event.user.name if event.user else None, "type": event.type, "task": event.task_name,
        "bpmn_id": event.bpmn_id, "decision": event.decision, "comment": event.comment,
    }


def instance_dict(instance: ProcessInstance, open_tasks: list[HumanTask],
                  events: list[ProcessEvent]) -> dict[str, Any]:
    return {
        "id": instance.id, "process_id": instance.process_id, "status": instance.status,
        "case_status": instance.case_status, "error": instance.error,
        "business_key": instance.business_key, "title": instance.title,
        "created_at": instance.created_at.isoformat(),
        "completed_at": instance.completed_at.isoformat() if instance.completed_at else None,
        "tasks": [task_dict(t) for t in open_tasks], "events": [event_dict(e) for e in events],
    }
