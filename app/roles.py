"""Role and unit-kind labels, and how BPMN lanes name roles.

A lane is named either by the role key (``reviewer``) or by its Chinese label (``审核人``), so
diagrams read naturally in a modeler and still map to exactly one role.
"""
from app.models.org import Role, UnitKind

ROLE_LABELS: dict[str, str] = {
    Role.ADMIN: "系统管理员",
    Role.ASSESSMENT_MANAGER: "考核管理员",
    Role.REVIEWER: "审核人",
    Role.LEADER: "领导",
    Role.EVALUATOR: "评估人",
    Role.ASSESSED_UNIT: "被考核单位",
    Role.QUALITY_TEAM: "质量管理组",
    Role.CONTRACTOR: "运维单位",
    Role.SUPERVISOR: "监理单位",
    Role.OWNER: "建设单位",
}

UNIT_KIND_LABELS: dict[str, str] = {
    UnitKind.OFFICE: "考核办",
    UnitKind.DEPARTMENT: "省直单位",
    UnitKind.CITY: "市州",
    UnitKind.CONTRACTOR: "运维单位",
    UnitKind.SUPERVISOR: "监理单位",
    UnitKind.OWNER: "建设单位",
}

_LANE_TO_ROLE = {**{r.value: r.value for r in Role}, **{label: key for key, label in ROLE_LABELS.items()}}


def role_for_lane(lane: str | None) -> str | None:
    """The role a lane stands for, or None when the lane names no known role."""
    if lane is None:
        return None
    return _LANE_TO_ROLE.get(lane.strip())
