"""Celery tasks: thin wrappers that take ids, call services and commit."""
from __future__ import annotations

from datetime import datetime

from celery import shared_task

from app.database import write_transaction
from app.models.base import utcnow
from app.services import chase, collection, documents, mail, timers
from app.workflow.runtime import ProcessError


def sweep_timers(now: datetime | None = None) -> int:
    """Fire every due instance, each in its own transaction so one failure stops nothing else."""
    now = now or utcnow()
    fired = 0
    for instance_id in timers.due_instance_ids(now):
        try:
            with write_transaction():
                fired += timers.fire_instance(instance_id, now)
        except ProcessError as exc:
            with write_transaction():
                timers.mark_error(instance_id, str(exc))
    return fired


def sweep_overdue(now: datetime | None = None) -> int:
    """Chase tasks past their deadline, then escalate those chased long enough ago; one transaction
    each, and each marks its task once (a second scheduler's attempt changes nothing)."""
    now = now or utcnow()
    done = 0
    for escalate, ids in ((False, chase.overdue_ids(now)), (True, chase.escalation_ids(now))):
        for task_id in ids:
            with write_transaction():
                done += chase.chase_one(task_id, now, escalate=escalate)
    return done


@shared_task(name="app.tasks.fire_due_timers", ignore_result=True)
def fire_due_timers() -> int:
    """Beat runs this every few seconds; it costs in proportion to what is due."""
    return sweep_timers() + sweep_overdue()


@shared_task(name="app.tasks.collect_due_sources", ignore_result=True)
def collect_due_sources() -> int:
    """Beat runs this every minute: read the data sources whose next_run_at has come."""
    return collection.sweep()


@shared_task(name="app.tasks.send_pending_emails", ignore_result=True)
def send_pending_emails() -> int:
    """Beat runs this every MAIL_SWEEP_SECONDS: send the notification e-mails that are due."""
    return mail.sweep()
@shared_task(name="app.tasks.render_document", ignore_result=True)
def render_document(document_id: int) -> None:
    """Render, sign and archive a document whose case is complete (seconds for a long one)."""
    documents.render_now(document_id)
