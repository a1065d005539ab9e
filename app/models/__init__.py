"""Typed SQLAlchemy models, one module per aggregate."""
from app.models.base import Base
from app.models.org import ApiToken, LoginAttempt, Role, Unit, UnitKind, User, UserRole
from app.models.plan import Cycle, EvaluatorGroup, Indicator, Plan, PlanObject, PlanStatus
from app.models.scoring import ScoreEntry
from app.models.workflow import (
    HumanTask,
    InstanceStatus,
    ProcessEvent,
    ProcessInstance,
    ProcessSpec,
    TaskStatus,
)

__all__ = [
    "ApiToken", "Base", "Cycle", "EvaluatorGroup", "HumanTask", "Indicator", "InstanceStatus",
    "LoginAttempt", "Plan", "PlanObject", "PlanStatus", "ProcessEvent", "ProcessInstance",
    "ProcessSpec", "Role", "ScoreEntry", "TaskStatus", "Unit", "UnitKind", "User", "UserRole",
]
