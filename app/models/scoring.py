"""Score entries (评分录入): one evaluator's score for one object × manual indicator of a plan."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Numeric, UniqueConstraint, true
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, UTCDateTime, utcnow
from app.models.org import Unit, User
from app.models.plan import EvaluatorGroup, Indicator


class ScoreEntry(Base):
    """Posting again for the same object × indicator replaces the evaluator's earlier score."""

    __tablename__ = "score_entry"
    __table_args__ = (
        UniqueConstraint("plan_id", "object_id", "indicator_id", "evaluator_id"),
        Index("ix_score_entry_plan_object", "plan_id", "object_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plan.id", ondelete="CASCADE"))
    object_id: Mapped[int] = mapped_column(ForeignKey("unit.id"))
    indicator_id: Mapped[int] = mapped_column(ForeignKey("indicator.id", ondelete="CASCADE"))
    evaluator_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    group_id: Mapped[int] = mapped_column(ForeignKey("evaluator_group.id", ondelete="CASCADE"))
    score: Mapped[Decimal] = mapped_column(Numeric(9, 3))
    # A draft saved in the entry grid counts for nothing until it is submitted.
    submitted: Mapped[bool] = mapped_column(default=True, server_default=true())
    # For a deduction or grade adapter: which items were ticked / which grade was chosen.
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    evaluator: Mapped[User] = relationship(lazy="joined")
    object: Mapped[Unit] = relationship(lazy="select")
    indicator: Mapped[Indicator] = relationship(lazy="select")
    group: Mapped[EvaluatorGroup] = relationship(lazy="select")
