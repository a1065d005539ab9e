"""What a task page shows beside the form, by the kind of case its instance belongs to.

A blueprint registers a panel for its case kind (the business key's prefix: ``plan`` for
``plan:42``); the task page calls it with the viewer and the case id and renders the templates it
names. A panel that raises a ServiceError (the viewer may not see the case) shows nothing.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from app.models import HumanTask, User
from app.services.errors import ServiceError

# (viewer, case id) → template context, with ``panels``: the templates to include
Panel = Callable[[User, int], dict[str, Any]]
_panels: dict[str, Panel] = {}


def panel(kind: str) -> Callable[[Panel], Panel]:
    def register(fn: Panel) -> Panel:
        _panels[kind] = fn
        return fn
    return register


def context_for(user: User, task: HumanTask) -> dict[str, Any]:
    kind, _sep, ident = (task.instance.business_key or "").partition(":")
    fn = _panels.get(kind)
    if fn is None or not ident.isdigit():
        return {"panels": []}
    try:
        context = fn(user, int(ident))
    except ServiceError:
        return {"panels": []}
    context.setdefault("panels", [])
    return context
