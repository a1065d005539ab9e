"""Signed documents and the cases that produce them: change orders (工程变更) and meeting minutes (会议纪要)."""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey, Index, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, UTCDateTime, utcnow
from app.models.org import Unit, User


class DocumentKind(StrEnum):
    CHANGE_ORDER = "change_order"
    MEETING_MINUTES = "meeting_minutes"
    RECTIFICATION_NOTICE = "rectification_notice"


class Phase(StrEnum):
    """Project phases a document is archived under (MISSION B10)."""

    PREPARATION = "preparation"
    CONTRACTS = "contracts"
    PROCUREMENT = "procurement"
    DESIGN = "design"
    IMPLEMENTATION = "implementation"
    INITIAL_ACCEPTANCE = "initial_acceptance"
    TRAINING = "training"
    TRIAL_RUN = "trial_run"
    FINAL_ACCEPTANCE = "final_acceptance"
    OPERATION = "operation"
    PLANS_REPORTS = "plans_reports"
    CHANGES = "changes"
    OTHER = "other"


class Document(Base):
    """An archived PDF. ``sha256`` names the current file in the archive (instance/archive/<sha256>.pdf);
    it is set once the background render has signed and stored it."""

    __tablename__ = "document"
    __table_args__ = (Index("ix_document_kind_created", "kind", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(30))
    title: Mapped[str] = mapped_column(String(300))
    phase: Mapped[str] = mapped_column(String(30))
    case_key: Mapped[str] = mapped_column(String(100), unique=True)   # e.g. change_order:5
    instance_id: Mapped[int | None] = mapped_column(ForeignKey("process_instance.id"))
    verification_code: Mapped[str] = mapped_column(String(32), unique=True)
    # queued → rendering → signing → ready | failed (the page polls it)
    status: Mapped[str] = mapped_column(String(20), default="queued")
    progress: Mapped[int] = mapped_column(default=0)
    error: Mapped[str | None] = mapped_column(Text)
    sha256: Mapped[str | None] = mapped_column(String(64), unique=True)
    size: Mapped[int | None]
    pages: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    parties: Mapped[list[DocumentParty]] = relationship(cascade="all, delete-orphan", lazy="selectin",
                                                        order_by="DocumentParty.id")
    revisions: Mapped[list[DocumentRevision]] = relationship(cascade="all, delete-orphan", lazy="select",
                                                             order_by="DocumentRevision.id")


class DocumentParty(Base):
    """Who a document belongs to: a unit (a change order's party) or a person (a meeting's participant)."""

    __tablename__ = "document_party"

    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("document.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(30))     # contractor | supervisor | owner | participant | recorder | host
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("unit.id"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), index=True)

    unit: Mapped[Unit | None] = relationship(lazy="joined")
    user: Mapped[User | None] = relationship(lazy="joined")


class DocumentRevision(Base):
    """Every file the archive holds for a document: the system-signed one, then one per party signature."""

    __tablename__ = "document_revision"

    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("document.id", ondelete="CASCADE"), index=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    signer: Mapped[str] = mapped_column(String(300))        # the certificate subject
    cert_serial: Mapped[str] = mapped_column(String(80))
    party_role: Mapped[str | None] = mapped_column(String(30))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ChangeOrder(Base):
    """An engineering change request (工程变更), BPMN ``engineering_change``."""

    __tablename__ = "change_order"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(30), unique=True)   # BG-2027-0001
    title: Mapped[str] = mapped_column(String(200))
    project: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text)
    content: Mapped[str] = mapped_column(Text)
    contract_amount: Mapped[Decimal] = mapped_column(Numeric(16, 2))
    change_amount: Mapped[Decimal] = mapped_column(Numeric(16, 2))
    attachments: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)  # [{name, sha256, size}]
    phase: Mapped[str] = mapped_column(String(30), default=Phase.CHANGES)
    contractor_unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"))
    supervisor_unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"))
    owner_unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"))
    initiator_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    initiator_role: Mapped[str] = mapped_column(String(32))
    needs_leader: Mapped[bool] = mapped_column(default=False)
    status: Mapped[str] = mapped_column(String(30), default="surveying", index=True)
    instance_id: Mapped[int | None] = mapped_column(ForeignKey("process_instance.id"))
    document_id: Mapped[int | None] = mapped_column(ForeignKey("document.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    contractor_unit: Mapped[Unit] = relationship(foreign_keys=[contractor_unit_id], lazy="joined")
    supervisor_unit: Mapped[Unit] = relationship(foreign_keys=[supervisor_unit_id], lazy="joined")
    owner_unit: Mapped[Unit] = relationship(foreign_keys=[owner_unit_id], lazy="joined")
    initiator: Mapped[User] = relationship(lazy="joined")
    document: Mapped[Document | None] = relationship(lazy="select")


class Meeting(Base):
    """A project meeting (项目会议) and its minutes, BPMN ``meeting_minutes``."""

    __tablename__ = "meeting"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(10))          # regular | adhoc
    held_at: Mapped[datetime] = mapped_column(UTCDateTime)
    location: Mapped[str] = mapped_column(String(200))
    agenda: Mapped[str] = mapped_column(Text)
    phase: Mapped[str] = mapped_column(String(30), default=Phase.OPERATION)
    host_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))       # the initiator, who archives
    recorder_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    summary: Mapped[str] = mapped_column(Text, default="")                    # 会议情况, drafted by the recorder
    decisions: Mapped[list[str]] = mapped_column(JSON, default=list)          # 议定事项
    status: Mapped[str] = mapped_column(String(30), default="drafting", index=True)
    instance_id: Mapped[int | None] = mapped_column(ForeignKey("process_instance.id"))
    document_id: Mapped[int | None] = mapped_column(ForeignKey("document.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    host: Mapped[User] = relationship(foreign_keys=[host_id], lazy="joined")
    recorder: Mapped[User] = relationship(foreign_keys=[recorder_id], lazy="joined")
    participants: Mapped[list[MeetingParticipant]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="MeetingParticipant.position")
    action_items: Mapped[list[ActionItem]] = relationship(
        back_populates="meeting", cascade="all, delete-orphan", lazy="selectin", order_by="ActionItem.position")
    document: Mapped[Document | None] = relationship(lazy="select")


class MeetingParticipant(Base):
    __tablename__ = "meeting_participant"

    meeting_id: Mapped[int] = mapped_column(ForeignKey("meeting.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), primary_key=True)
    position: Mapped[int] = mapped_column(default=0)

    user: Mapped[User] = relationship(lazy="joined")


class ActionItem(Base):
    """A follow-up agreed in a meeting (会议纪要的督办事项): tracked until its owner marks it done."""

    __tablename__ = "action_item"
    __table_args__ = (Index("ix_action_item_owner_status", "owner_id", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meeting.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(default=0)
    content: Mapped[str] = mapped_column(Text)
    owner_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    due_on: Mapped[date] = mapped_column(Date)
    # draft while the minutes are being agreed; open once archived; done when its owner says so
    status: Mapped[str] = mapped_column(String(10), default="draft")
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    note: Mapped[str | None] = mapped_column(Text)

    owner: Mapped[User] = relationship(lazy="joined")
    meeting: Mapped[Meeting] = relationship(back_populates="action_items", lazy="select")
