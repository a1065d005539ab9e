"""Celery wiring (the Flask documentation's pattern): tasks run inside an app context."""
from __future__ import annotations

from typing import Any

from celery import Celery, Task
from flask import Flask


def celery_init_app(app: Flask) -> Celery:
    class FlaskTask(Task):
        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            with app.app_context():
                return self.run(*args, **kwargs)

    celery_app = Celery(app.name, task_cls=FlaskTask)
    celery_app.config_from_object(app.config["CELERY"])
    celery_app.conf.beat_schedule = {
        "fire-due-timers": {"task": "app.tasks.fire_due_timers", "schedule": app.config["TIMER_SWEEP_SECONDS"]},
        "collect-due-sources": {"task": "app.tasks.collect_due_sources",
                                "schedule": app.config["COLLECT_SWEEP_SECONDS"]},
        "send-pending-emails": {"task": "app.tasks.send_pending_emails", "schedule": app.config["MAIL_SWEEP_SECONDS"]},
    }
    celery_app.conf.include = ["app.tasks"]

    from celery.signals import worker_init

    @worker_init.connect(weak=False)
    def _check_fonts(**_: Any) -> None:
        """The worker renders the documents: it refuses to start without a CJK font (no silent tofu)."""
        from app import pdf
        with app.app_context():
            pdf.check_cjk_font()

    celery_app.set_default()
    app.extensions["celery"] = celery_app
    return celery_app
