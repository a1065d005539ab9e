"""Template filters and globals shared by every page."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from flask import Flask
from flask_babel import get_locale
from flask_login import current_user

from app.models.base import utcnow
from app.roles import ROLE_LABELS, UNIT_KIND_LABELS
from app.services.appeals import STATUS_LABELS as APPEAL_STATUS_LABELS
from app.services.documents import STATUS_LABELS as DOCUMENT_STATUS_LABELS
from app.services.meetings import ITEM_STATUS_LABELS
from app.services.plan_changes import FIELD_LABELS as CHANGE_FIELD_LABELS
from app.services.plan_changes import STATUS_LABELS as CHANGE_STATUS_LABELS
from app.services.plans import CYCLE_LABELS, STATUS_LABELS
from app.workdays import SHANGHAI


def local_time(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """Times are stored in UTC and shown in Beijing time."""
    return value.astimezone(SHANGHAI).strftime(fmt) if value else ""


def plain_number(value: Decimal | int | str | None) -> str:
    """``70``, ``12.5`` — never ``70.000`` or ``7E+1`` (weights and scores are exact decimals)."""
    if value is None or value == "":
        return ""
    return format(Decimal(str(value)).normalize(), "f")


def _change_percent(order: Any) -> str:
    from app.services.change_orders import percent
    return str(percent(order.contract_amount, order.change_amount))


def register(app: Flask) -> None:
    app.jinja_env.filters["local"] = local_time
    app.jinja_env.filters["plain"] = plain_number
    app.jinja_env.globals.update(ROLE_LABELS=ROLE_LABELS, UNIT_KIND_LABELS=UNIT_KIND_LABELS,
                                  PLAN_STATUS_LABELS=STATUS_LABELS, CYCLE_LABELS=CYCLE_LABELS,
                                  CHANGE_STATUS_LABELS=CHANGE_STATUS_LABELS, CHANGE_FIELD_LABELS=CHANGE_FIELD_LABELS,
                                  APPEAL_STATUS_LABELS=APPEAL_STATUS_LABELS,
                                  DOCUMENT_STATUS_LABELS=DOCUMENT_STATUS_LABELS, get_locale=get_locale,
                                  change_percent=_change_percent, ITEM_STATUS_LABELS=ITEM_STATUS_LABELS)

    @app.context_processor
    def _globals() -> dict[str, Any]:
        return {"now": utcnow(), "user": current_user}
