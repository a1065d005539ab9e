"""Persisted process state: spec versions, instances, the inbox table and the event log."""
from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, UTCDateTime, utcnow
from app.models.org import Unit, User


class InstanceStatus(StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class TaskStatus(StrEnum):
    OPEN = "open"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class ProcessSpec(Base):
    """One version of a process definition, stored once and keyed by the hash of its BPMN files."""

    __tablename__ = "process_spec"
    __table_args__ = (UniqueConstraint("process_id", "content_hash"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    process_id: Mapped[str] = mapped_column(String(100), index=True)
    content_hash: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    # Large and rarely needed (an old version's first load; the diagram page): loaded on access only.
    spec_json: Mapped[str] = mapped_column(Text, deferred=True)   # serialized spec + subprocess specs
    bpmn_xml: Mapped[str] = mapped_column(Text, deferred=True)    # the diagram, for the instance page
    forms_json: Mapped[str | None] = mapped_column(Text, deferred=True)  # {form key: YAML} of this version
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ProcessInstance(Base):
    __tablename__ = "process_instance"
    __table_args__ = (Index("ix_process_instance_business_key", "business_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    process_id: Mapped[str] = mapped_column(String(100), index=True)
    spec_id: Mapped[int] = mapped_column(ForeignKey("process_spec.id"))
    business_key: Mapped[str | None] = mapped_column(String(100))
    title: Mapped[str] = mapped_column(String(300), default="")
    status: Mapped[str] = mapped_column(String(20), default=InstanceStatus.RUNNING)
    case_status: Mapped[str | None] = mapped_column(String(40))
    serializer_version: Mapped[str] = mapped_column(String(10))
    state_json: Mapped[str] = mapped_column(Text)     # engine state WITHOUT the spec
    trail: Mapped[list[str]] = mapped_column(JSON, default=list)  # BPMN ids completed so far
    # Earliest due time of a waiting timer; the scheduler's index, NULL when nothing waits.
    next_timer_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    started_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    error: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(default=1)

    spec: Mapped[ProcessSpec] = relationship(lazy="select")
    started_by: Mapped[User | None] = relationship(lazy="select")

    # Optimistic locking on top of the row lock: a stale writer fails instead of overwriting.
    __mapper_args__ = {"version_id_col": version}


class HumanTask(Base):
    """One row per user task the engine made ready: the inbox. Never deserialize to list tasks."""

    __tablename__ = "human_task"
    __table_args__ = (
        # 组待办: unclaimed tasks of a role — for any unit, or for one unit — newest first. Partial
        # indexes (predicates without parameters, so PostgreSQL's generic plans can use them too)
        # hold only unclaimed rows and let each branch of the candidate query read its page in order.
        Index("ix_human_task_pool_anyunit", "status", "role", "id",
              postgresql_where=sa.text("candidate_unit_id IS NULL AND assignee_id IS NULL"),
              sqlite_where=sa.text("candidate_unit_id IS NULL AND assignee_id IS NULL")),
        Index("ix_human_task_pool_unit", "status", "role", "candidate_unit_id", "id",
              postgresql_where=sa.text("assignee_id IS NULL"), sqlite_where=sa.text("assignee_id IS NULL")),
        # 我的待办: open tasks held by a user.
        Index("ix_human_task_assignee", "assignee_id", "status", "id"),
        # 已办: tasks completed by a user, most recent first.
        Index("ix_human_task_done", "completed_by_id", "completed_at", "id"),
        Index("ix_human_task_instance", "instance_id", "status"),
        # The chase sweep: open tasks past their deadline not yet chased, then chased ones not yet
        # escalated. Partial, so a tick reads only what is due, however many tasks are waiting.
        Index("ix_human_task_chase", "due_at",
              postgresql_where=sa.text("status = 'open' AND chased_at IS NULL AND due_at IS NOT NULL"),
              sqlite_where=sa.text("status = 'open' AND chased_at IS NULL AND due_at IS NOT NULL")),
        Index("ix_human_task_escalate", "chased_at",
              postgresql_where=sa.text("status = 'open' AND escalated_at IS NULL AND chased_at IS NOT NULL"),
              sqlite_where=sa.text("status = 'open' AND escalated_at IS NULL AND chased_at IS NOT NULL")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id", ondelete="CASCADE"))
    spiff_task_id: Mapped[str] = mapped_column(String(36))
    bpmn_id: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(200))
    process_id: Mapped[str] = mapped_column(String(100))
    title: Mapped[str] = mapped_column(String(300), default="")  # the case, e.g. the plan's name
    lane: Mapped[str | None] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(32))
    candidate_unit_id: Mapped[int | None] = mapped_column(ForeignKey("unit.id"))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    # Assigned by the process itself (the ``assignee`` property): only an admin may release it.
    pinned: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    # Kept away from this task by the process (``excludeUser``), e.g. the author of the plan under review.
    excluded_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    form_key: Mapped[str] = mapped_column(String(100))
    priority: Mapped[int] = mapped_column(default=50)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(20), default=TaskStatus.OPEN)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    chased_at: Mapped[datetime | None] = mapped_column(UTCDateTime)      # first chased as overdue (催办)
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)   # escalated to leaders

    instance: Mapped[ProcessInstance] = relationship(lazy="select")
    candidate_unit: Mapped[Unit | None] = relationship(lazy="select")
    assignee: Mapped[User | None] = relationship(foreign_keys=[assignee_id], lazy="select")
    completed_by: Mapped[User | None] = relationship(foreign_keys=[completed_by_id], lazy="select")


class ProcessEvent(Base):
    """Append-only history of an instance: who did what, when, with which decision and comment."""

    __tablename__ = "process_event"
    __table_args__ = (Index("ix_process_event_instance", "instance_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    type: Mapped[str] = mapped_column(String(30))
    task_id: Mapped[int | None] = mapped_column(ForeignKey("human_task.id"))
    bpmn_id: Mapped[str | None] = mapped_column(String(100))
    task_name: Mapped[str | None] = mapped_column(String(200))
    decision: Mapped[str | None] = mapped_column(String(40))
    comment: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    user: Mapped[User | None] = relationship(lazy="joined")
