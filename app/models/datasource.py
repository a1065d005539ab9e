"""Automatic collection (A2.4): data sources, their runs and the values each run read."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, UTCDateTime, utcnow


class DataSource(Base):
    """Where automatic indicator values come from: an HTTP JSON API, or a CSV file or URL."""

    __tablename__ = "datasource"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    kind: Mapped[str] = mapped_column(String(20))                  # http_json | csv
    url: Mapped[str | None] = mapped_column(Text)                  # http(s) address; None for an uploaded CSV
    file_sha256: Mapped[str | None] = mapped_column(String(64))    # an uploaded CSV, kept in instance/
    records_path: Mapped[str] = mapped_column(String(200), default="")   # dotted path to the record list
    object_field: Mapped[str] = mapped_column(String(100))
    value_field: Mapped[str] = mapped_column(String(100))
    auth_header_secret: Mapped[str | None] = mapped_column(Text)  # encrypted; never shown again
    timeout_seconds: Mapped[int] = mapped_column(default=10)
    schedule_minutes: Mapped[int | None]                            # None: on demand only
    next_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CollectionRun(Base):
    """One read of a data source: when, what triggered it, how many records, what went wrong."""

    __tablename__ = "collection_run"
    __table_args__ = (Index("ix_collection_run_source_started", "datasource_id", "started_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    datasource_id: Mapped[int] = mapped_column(ForeignKey("datasource.id", ondelete="CASCADE"))
    plan_id: Mapped[int | None] = mapped_column(ForeignKey("plan.id", ondelete="SET NULL"))
    trigger: Mapped[str] = mapped_column(String(20))               # manual | schedule
    triggered_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    status: Mapped[str] = mapped_column(String(20), default="running")   # running | ok | failed
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    records_read: Mapped[int] = mapped_column(default=0)
    errors: Mapped[list[Any] | None] = mapped_column(JSON)

    datasource: Mapped[DataSource] = relationship(lazy="joined")


class CollectedValue(Base):
    """The value a successful run read for one assessed object (by unit code)."""

    __tablename__ = "collected_value"
    __table_args__ = (Index("ix_collected_value_run_object", "run_id", "object_code", unique=True),)

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("collection_run.id", ondelete="CASCADE"))
    object_code: Mapped[str] = mapped_column(String(64))
    value: Mapped[Decimal] = mapped_column(Numeric(20, 6))
    raw: Mapped[str] = mapped_column(Text, default="")             # the value as the source gave it
