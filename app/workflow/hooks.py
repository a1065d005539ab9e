"""Domain listeners: services register what follows when a case of theirs moves.

The runtime calls the listener registered for an instance's business-key kind (``plan`` for
``plan:42``) after every advance, inside the same transaction. Services register at import;
the runtime never imports services.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from app.models import ProcessInstance

Listener = Callable[["ProcessInstance"], None]
_listeners: dict[str, Listener] = {}


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
