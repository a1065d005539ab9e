"""Assessment plans (考核计划): indicator tree, evaluator groups and assessed objects."""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey, Numeric, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, UTCDateTime, utcnow
from app.models.org import Unit, User


class PlanStatus(StrEnum):
    DRAFT = "draft"
    IN_REVIEW = "in_review"
    RETURNED = "returned"
    PUBLISHED = "published"


class Cycle(StrEnum):
    YEAR = "year"
    HALF = "half"
    QUARTER = "quarter"
    MONTH = "month"


class Plan(Base):
    __tablename__ = "plan"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    cycle: Mapped[str] = mapped_column(String(10))
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    goals: Mapped[str] = mapped_column(Text, default="")
    # [{"min": "90", "ratio": "1"}, …]: the band with the highest min ≤ total sets the fee payment ratio
    payment_bands: Mapped[list[dict[str, str]] | None] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(20), default=PlanStatus.DRAFT, index=True)
    # Raised by every approved indicator change; earlier versions live in plan_version.
    version: Mapped[int] = mapped_column(default=1)
    # Final results of a public plan are shown on the public results page (no login).
    public: Mapped[bool] = mapped_column(default=False, server_default=false())
    results_stage: Mapped[str | None] = mapped_column(String(20))   # None | preliminary | final
    results_published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Preliminary results open an appeal window; its BPMN timer closes it.
    appeal_deadline: Mapped[datetime | None] = mapped_column(UTCDateTime)
    scoring_instance_id: Mapped[int | None] = mapped_column(ForeignKey("process_instance.id"))
    author_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("unit.id"))
    instance_id: Mapped[int | None] = mapped_column(ForeignKey("process_instance.id"))  # its approval
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    author: Mapped[User] = relationship(lazy="joined")
    indicators: Mapped[list[Indicator]] = relationship(
        back_populates="plan", cascade="all, delete-orphan", order_by="Indicator.position"
    )
    evaluators: Mapped[list[EvaluatorGroup]] = relationship(
        cascade="all, delete-orphan", order_by="EvaluatorGroup.position"
    )
    objects: Mapped[list[PlanObject]] = relationship(cascade="all, delete-orphan", order_by="PlanObject.id")

    @property
    def editable(self) -> bool:
        return self.status in (PlanStatus.DRAFT, PlanStatus.RETURNED)

    @property
    def top_indicators(self) -> list[Indicator]:
        return [i for i in self.indicators if i.parent_id is None and i.parent is None]


class Indicator(Base):
    __tablename__ = "indicator"

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plan.id", ondelete="CASCADE"), index=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("indicator.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(default=0)
    code: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(200))
    weight: Mapped[Decimal] = mapped_column(Numeric(7, 3))
    method: Mapped[str] = mapped_column(String(10), default="manual")  # manual | auto
    max_score: Mapped[Decimal] = mapped_column(Numeric(9, 3), default=Decimal(100))
    standard: Mapped[str] = mapped_column(Text, default="")
    # How a manual leaf is entered: {"kind": "range"} (default), {"kind": "deductions", "items":
    # [{"label", "points"}]} or {"kind": "grades", "choices": [{"label", "score"}]}.
    input_adapter: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # Where an automatic leaf's value comes from: {"datasource": name, "rule": {"kind": …}}.
    source: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    plan: Mapped[Plan] = relationship(back_populates="indicators")
    parent: Mapped[Indicator | None] = relationship(remote_side=[id], back_populates="children")
    children: Mapped[list[Indicator]] = relationship(back_populates="parent", order_by="Indicator.position")


class EvaluatorGroup(Base):
    """Who evaluates (评估人): everyone holding a role, a unit, or one named user; with a weight."""

    __tablename__ = "evaluator_group"

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plan.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(default=0)
    kind: Mapped[str] = mapped_column(String(10))   # role | unit | username
    ref: Mapped[str] = mapped_column(String(64))
    weight: Mapped[Decimal] = mapped_column(Numeric(7, 3))


class PlanObject(Base):
    """An assessed object (考核对象) of a plan: a unit."""

    __tablename__ = "plan_object"

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plan.id", ondelete="CASCADE"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"))

    unit: Mapped[Unit] = relationship(lazy="joined")


class PlanVersion(Base):
    """A plan as it stood at one version (``plan_dict``), kept when an indicator change takes effect."""

    __tablename__ = "plan_version"
    __table_args__ = (UniqueConstraint("plan_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plan.id", ondelete="CASCADE"))
    version: Mapped[int]
    snapshot: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PlanChange(Base):
    """A requested change to a published plan's indicators (A1.5), decided by its BPMN instance."""

    __tablename__ = "plan_change"

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plan.id", ondelete="CASCADE"), index=True)
    requested_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    reason: Mapped[str] = mapped_column(Text)
    indicators: Mapped[list[dict[str, Any]]] = mapped_column(JSON)   # [{code, weight?, name?, …}]
    base_version: Mapped[int]
    status: Mapped[str] = mapped_column(String(20), default="pending")   # pending | approved | rejected
    instance_id: Mapped[int | None] = mapped_column(ForeignKey("process_instance.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    requested_by: Mapped[User] = relationship(lazy="joined")
