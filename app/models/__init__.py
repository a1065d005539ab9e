"""Typed SQLAlchemy models, one module per aggregate."""
from app.models.base import Base
from app.models.datasource import CollectedValue, CollectionRun, DataSource
from app.models.document import (
    ActionItem,
    ChangeOrder,
    Document,
    DocumentKind,
    DocumentParty,
    DocumentRevision,
    Meeting,
    MeetingParticipant,
    Phase,
)
from app.models.org import ApiToken, LoginAttempt, Role, Unit, UnitKind, User, UserRole
from app.models.plan import (
    Cycle,
    EvaluatorGroup,
    Indicator,
    Plan,
    PlanChange,
    PlanObject,
    PlanStatus,
    PlanVersion,
)
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
    "ActionItem", "ChangeOrder", "Document", "DocumentKind", "DocumentParty", "DocumentRevision", "Meeting",
    "MeetingParticipant", "Phase",
    "ApiToken", "Base", "CollectedValue", "CollectionRun", "Cycle", "DataSource", "EvaluatorGroup",
    "HumanTask", "Indicator", "InstanceStatus", "LoginAttempt", "Plan", "PlanChange", "PlanObject",
    "PlanStatus", "PlanVersion", "ProcessEvent", "ProcessInstance", "ProcessSpec", "Role", "ScoreEntry",
    "TaskStatus", "Unit", "UnitKind", "User", "UserRole",
]
