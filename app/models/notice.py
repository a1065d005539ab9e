"""Notifications (站内通知 and e-mail) and the official working-day schedule (工作日安排)."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, UTCDateTime, utcnow
from app.models.org import User


class Notification(Base):
    """A message to one user: shown under the bell until read; also e-mailed by the worker."""

    __tablename__ = "notification"
    __table_args__ = (
        Index("ix_notification_user", "user_id", "id"),
        Index("ix_notification_unread", "user_id", "read_at"),
        Index("ix_notification_email_pending", "email_status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="")
    link: Mapped[str] = mapped_column(String(500), default="")
    kind: Mapped[str] = mapped_column(String(30), default="info")   # overdue, escalated, chased, appeal, …
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # None: no e-mail wanted (or no address); pending → sent | failed, by the worker
    email_status: Mapped[str | None] = mapped_column(String(20))
    email_error: Mapped[str | None] = mapped_column(Text)
    emailed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship(lazy="select")


class CalendarDay(Base):
    """One day of a year's official schedule as published by the State Council (国务院办公厅通知):
    a public holiday (休) or a make-up working day on a weekend (调休上班). A year with any rows here
    is taken from these rows alone; other years come from the bundled calendar, or Monday–Friday."""

    __tablename__ = "calendar_day"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    year: Mapped[int] = mapped_column(index=True)
    kind: Mapped[str] = mapped_column(String(10))       # holiday | workday
    name: Mapped[str] = mapped_column(String(100), default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
