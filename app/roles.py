"""Role and unit-kind labels, and how BPMN lanes name roles.

A lane is named either by the role key (``reviewer``) or by its Chinese label (``审核人``), so
diagrams read naturally in a modeler and still map to exactly one role.
"""
from app.i18n import N_
from app.models.org import Role, UnitKind

ROLE_LABELS: dict[str, str] = {
    Role.ADMIN: N_("系统管理员"),
    Role.ASSESSMENT_MANAGER: N_("考核管理员"),
    Role.REVIEWER: N_("审核人"),
    Role.LEADER: N_("领导"),
    Role.EVALUATOR: N_("评估人"),
    Role.ASSESSED_UNIT: N_("被考核单位"),
    Role.QUALITY_TEAM: N_("质量管理组"),
    Role.CONTRACTOR: N_("运维单位"),
    Role.SUPERVISOR: N_("监理单位"),
    Role.OWNER: N_("建设单位"),
}

UNIT_KIND_LABELS: dict[str, str] = {
    UnitKind.OFFICE: N_("考核办"),
    UnitKind.DEPARTMENT: N_("省直单位"),
    UnitKind.CITY: N_("市州"),
    UnitKind.CONTRACTOR: N_("运维单位"),
    UnitKind.SUPERVISOR: N_("监理单位"),
    UnitKind.OWNER: N_("建设单位"),
}

_LANE_TO_ROLE = {**{r.value: r.value for r in Role}, **{label: key for key, label in ROLE_LABELS.items()}}


def role_for_lane(lane: str | None) -> str | None:
    """The role a lane stands for, or None when the lane names no known role."""
    if lane is None:
        return None
    return _LANE_TO_ROLE.get(lane.strip())
