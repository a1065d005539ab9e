"""Domain listeners: services register what follows when a case of theirs moves.

The runtime calls the listener registered for an instance's business-key kind (``plan`` for
``plan:42``) after every advance, inside the same transaction. Services register at import;
the runtime never imports services.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from app.models import HumanTask, ProcessInstance

Listener = Callable[["ProcessInstance"], None]
# (instance, event, bpmn id of the user task it is drawn on): a timer event carrying an ``event``
# property fired, e.g. a boundary timer ``event=overdue`` on a unit's task.
TimerListener = Callable[["ProcessInstance", str, "str | None"], None]
# (instance, task row, validated form data): called before a user task of that case kind completes;
# it may record the data on the case, or raise to refuse the completion (nothing is written then).
CompletingListener = Callable[["ProcessInstance", "HumanTask", dict[str, Any]], None]
_listeners: dict[str, Listener] = {}
_timer_listeners: list[TimerListener] = []
_completing_listeners: dict[str, CompletingListener] = {}


def on_case_change(kind: str) -> Callable[[Listener], Listener]:
    def register(fn: Listener) -> Listener:
        _listeners[kind] = fn
        return fn
    return register


def notify(instance: ProcessInstance) -> None:
    if instance.business_key and ":" in instance.business_key:
        listener = _listeners.get(instance.business_key.split(":", 1)[0])
        if listener is not None:
            listener(instance)


def on_timer_event(fn: TimerListener) -> TimerListener:
    _timer_listeners.append(fn)
    return fn


def timer_event(instance: ProcessInstance, event: str, task_bpmn_id: str | None) -> None:
    for listener in _timer_listeners:
        listener(instance, event, task_bpmn_id)


def on_task_completing(kind: str) -> Callable[[CompletingListener], CompletingListener]:
    def register(fn: CompletingListener) -> CompletingListener:
        _completing_listeners[kind] = fn
        return fn
    return register


def task_completing(instance: ProcessInstance, task: HumanTask, data: dict[str, Any]) -> None:
    if instance.business_key and ":" in instance.business_key:
        listener = _completing_listeners.get(instance.business_key.split(":", 1)[0])
        if listener is not None:
            listener(instance, task, data)
