"""Notifications: in-app (the bell) and by e-mail through the background worker.

``notify`` only writes rows, inside the caller's transaction, so a notification exists exactly when
the change it reports was committed. The worker sends the pending e-mails afterwards
(app/services/mail.py); with no mail server configured none is queued (``email_status`` None).
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import url_for

from app.extensions import db
from app.models import Notification, User
from app.models.base import utcnow
from app.services import mail
from app.services.errors import NotFound

LIST_LIMIT = 50


def notify(users: Iterable[User], title: str, body: str = "", link: str = "", kind: str = "info") -> list[Notification]:
    """One notification per distinct active user; e-mail is queued for those with an address."""
    rows, seen = [], set()
    emailing = mail.enabled()
    for user in users:
        if user.id in seen or not user.active:
            continue
        seen.add(user.id)
        row = Notification(user_id=user.id, title=title[:200], body=body, link=link[:500], kind=kind,
                           email_status=mail.PENDING if emailing and user.email else None)
        db.session.add(row)
        rows.append(row)
    return rows


def link(endpoint: str, path: str, **values: Any) -> str:
    """A notification's link: the page's URL, or ``path`` where there is no request (the worker)."""
    try:
        return url_for(endpoint, **values)
    except RuntimeError:   # no request context: a path is still a good link
        return path


def unread_count(user: User) -> int:
    return int(db.session.scalar(sa.select(sa.func.count()).select_from(Notification).where(
        Notification.user_id == user.id, Notification.read_at.is_(None))) or 0)


def list_for(user: User, limit: int = LIST_LIMIT, unread_only: bool = False,
             before: int | None = None) -> list[Notification]:
    """The user's newest notifications; ``before`` (an id) pages back to older ones."""
    query = sa.select(Notification).where(Notification.user_id == user.id)
    if unread_only:
        query = query.where(Notification.read_at.is_(None))
    if before is not None:
        query = query.where(Notification.id < before)
    return list(db.session.scalars(query.order_by(Notification.id.desc()).limit(limit)))


def mark_read(user: User, ids: Iterable[int] | None = None) -> int:
    """Mark the user's notifications read (all of them when ``ids`` is None); others' are untouched."""
    query = sa.update(Notification).where(Notification.user_id == user.id, Notification.read_at.is_(None))
    if ids is not None:
        query = query.where(Notification.id.in_(list(ids)))
    result = db.session.execute(query.values(read_at=utcnow()).execution_options(synchronize_session=False))
    return int(result.rowcount)  # type: ignore[attr-defined]


def open_for(user: User, notification_id: int) -> Notification:
    """The user's own notification, now read (someone else's is "not found", never "forbidden")."""
    row = db.session.get(Notification, notification_id)
    if row is None or row.user_id != user.id:
        raise NotFound("通知不存在")
    if row.read_at is None:
        row.read_at = utcnow()
        db.session.flush()
    return row


def local_link(link: str) -> str | None:
    """Where opening a notification may lead: a path on this site, never another host."""
    if link.startswith("/") and not link.startswith("//") and not urlsplit(link).netloc \
            and not any(c in link for c in "\\\t\r\n"):
        return link
    return None


def notification_dict(row: Notification) -> dict[str, Any]:
    return {"id": row.id, "title": row.title, "body": row.body, "link": row.link, "kind": row.kind,
            "created_at": row.created_at.isoformat(), "read": row.read_at is not None}
