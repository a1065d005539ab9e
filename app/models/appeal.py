"""Appeals and re-evaluation (绩效申诉与复评), result snapshots, and rectification notices (整改通知书)."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, UTCDateTime, utcnow
from app.models.org import Unit, User
from app.models.plan import Indicator, Plan


class ResultSnapshot(Base):
    """A publication of a plan's results (preliminary or final), kept as it was: never updated."""

    __tablename__ = "result_snapshot"
    __table_args__ = (Index("ix_result_snapshot_plan", "plan_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plan.id", ondelete="CASCADE"))
    stage: Mapped[str] = mapped_column(String(20))               # preliminary | final
    plan_version: Mapped[int]
    results: Mapped[list[dict[str, Any]]] = mapped_column(JSON)   # result_dict rows, evidence included
    published_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Appeal(Base):
    """An assessed unit's appeal against one indicator's preliminary score, decided by BPMN ``appeal``."""

    __tablename__ = "appeal"
    __table_args__ = (Index("ix_appeal_plan", "plan_id", "object_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plan.id", ondelete="CASCADE"))
    object_id: Mapped[int] = mapped_column(ForeignKey("unit.id"))
    indicator_id: Mapped[int] = mapped_column(ForeignKey("indicator.id", ondelete="CASCADE"))
    filed_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    reason: Mapped[str] = mapped_column(Text)
    # pending → accepted (re-evaluating) → resolved | rejected
    status: Mapped[str] = mapped_column(String(20), default="pending")
    decision_comment: Mapped[str | None] = mapped_column(Text)
    score_before: Mapped[str | None] = mapped_column(String(20))  # the indicator's score when filed (0–100)
    score_after: Mapped[str | None] = mapped_column(String(20))
    instance_id: Mapped[int | None] = mapped_column(ForeignKey("process_instance.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    plan: Mapped[Plan] = relationship(lazy="select")
    object: Mapped[Unit] = relationship(lazy="joined")
    indicator: Mapped[Indicator] = relationship(lazy="joined")
    filed_by: Mapped[User] = relationship(lazy="joined")
    files: Mapped[list[AppealFile]] = relationship(cascade="all, delete-orphan", order_by="AppealFile.id")
    reevaluations: Mapped[list[Reevaluation]] = relationship(cascade="all, delete-orphan",
                                                             order_by="Reevaluation.id")


class AppealFile(Base):
    """Evidence attached to an appeal, stored under instance/ by SHA-256."""

    __tablename__ = "appeal_file"

    id: Mapped[int] = mapped_column(primary_key=True)
    appeal_id: Mapped[int] = mapped_column(ForeignKey("appeal.id", ondelete="CASCADE"), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int]
    content_type: Mapped[str] = mapped_column(String(100), default="application/octet-stream")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Reevaluation(Base):
    """One evaluator's re-evaluated score (复评) for the appealed object × indicator."""

    __tablename__ = "reevaluation"

    id: Mapped[int] = mapped_column(primary_key=True)
    appeal_id: Mapped[int] = mapped_column(ForeignKey("appeal.id", ondelete="CASCADE"), index=True)
    evaluator_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    old_score: Mapped[Decimal | None] = mapped_column(Numeric(9, 3))
    score: Mapped[Decimal] = mapped_column(Numeric(9, 3))
    comment: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    evaluator: Mapped[User] = relationship(lazy="joined")


class Rectification(Base):
    """A rectification notice (整改通知书) to a unit, worked through BPMN ``rectification``."""

    __tablename__ = "rectification"
    __table_args__ = (Index("ix_rectification_unit", "unit_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"))
    plan_id: Mapped[int | None] = mapped_column(ForeignKey("plan.id", ondelete="SET NULL"))
    title: Mapped[str] = mapped_column(String(200))
    problems: Mapped[str] = mapped_column(Text)
    requirements: Mapped[str] = mapped_column(Text, default="")
    deadline: Mapped[datetime] = mapped_column(UTCDateTime)
    issued_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    # issued → submitted → returned … → closed
    status: Mapped[str] = mapped_column(String(20), default="issued")
    analysis: Mapped[str | None] = mapped_column(Text)
    measures: Mapped[str | None] = mapped_column(Text)
    instance_id: Mapped[int | None] = mapped_column(ForeignKey("process_instance.id"))
    document_id: Mapped[int | None]            # the archived PDF, once closed (documents live in the archive)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    unit: Mapped[Unit] = relationship(lazy="joined")
    issued_by: Mapped[User] = relationship(lazy="joined")
