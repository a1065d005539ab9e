"""Typed SQLAlchemy models, one module per aggregate."""
from app.models.appeal import Appeal, AppealFile, Rectification, Reevaluation, ResultSnapshot
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
from app.models.notice import CalendarDay, Notification
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
    "ActionItem", "ApiToken", "Appeal", "AppealFile", "Base", "CalendarDay", "ChangeOrder", "CollectedValue",
    "CollectionRun", "Cycle", "DataSource", "Document", "DocumentKind", "DocumentParty", "DocumentRevision",
    "EvaluatorGroup", "HumanTask", "Indicator", "InstanceStatus", "LoginAttempt", "Meeting",
    "MeetingParticipant", "Notification", "Phase", "Plan", "PlanChange", "PlanObject", "PlanStatus",
    "PlanVersion", "ProcessEvent", "ProcessInstance", "ProcessSpec", "Rectification", "Reevaluation",
    "ResultSnapshot", "Role", "ScoreEntry", "TaskStatus", "Unit", "UnitKind", "User", "UserRole",
]
