"""Firing due BPMN timers: the scheduler's sweep, idempotent across schedulers."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from app.database import is_postgres
from app.extensions import db
from app.models import InstanceStatus, ProcessInstance
from app.workflow import runtime


def due_instance_ids(now: datetime, limit: int = 100) -> list[int]:
    """Uses the ``next_timer_at`` index: cost follows what is due, not what is waiting."""
    query = (sa.select(ProcessInstance.id)
             .where(ProcessInstance.next_timer_at <= now, ProcessInstance.status == InstanceStatus.RUNNING)
             .order_by(ProcessInstance.next_timer_at).limit(limit))
    return list(db.session.scalars(query))


def fire_instance(instance_id: int, now: datetime) -> bool:
    """Fire one instance's due timers if it is still due; False when another scheduler got there first."""
    query = sa.select(ProcessInstance).where(
        ProcessInstance.id == instance_id, ProcessInstance.next_timer_at <= now,
        ProcessInstance.status == InstanceStatus.RUNNING)
    if is_postgres():
        query = query.with_for_update(skip_locked=True, of=ProcessInstance)
    instance = db.session.execute(query.execution_options(populate_existing=True)).scalar_one_or_none()
    if instance is None:
        return False
    runtime.fire_timers(instance)
    return True


def mark_error(instance_id: int, message: str) -> None:
    instance = db.session.get(ProcessInstance, instance_id)
    if instance is not None:
        # Still running (the contract's statuses are running | completed | cancelled), but flagged,
        # and no longer retried on every tick until someone repairs it.
        instance.error = message
        instance.next_timer_at = None
        db.session.flush()
