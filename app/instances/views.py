"""The process instance page: diagram with completed and current steps, and the history."""
from __future__ import annotations

from flask import Response, abort, render_template
from flask.typing import ResponseReturnValue
from flask_login import current_user, login_required

from app.i18n import N_
from app.instances import bp
from app.services import chase, instances
from app.services.errors import ServiceError

EVENT_LABELS = {
    "started": N_("发起"), "completed": N_("办理"), "claimed": N_("认领"), "released": N_("释放"),
    "timer": N_("定时器触发"), "task_cancelled": N_("任务撤销"), "instance_completed": N_("流程结束"),
    "overdue": N_("逾期"), "chased": N_("催办"), "escalated": N_("上报领导"),
}
DECISION_LABELS = {
    "approve": N_("通过"), "return": N_("退回"), "reject": N_("驳回"), "agree": N_("同意"), "disagree": N_("不同意"),
    "accept": N_("受理"),
}


@bp.route("/<int:instance_id>")
@login_required
def show(instance_id: int) -> ResponseReturnValue:
    try:
        view = instances.get_instance(current_user, instance_id)
    except ServiceError as exc:
        abort(exc.status)
    return render_template("instances/show.html", view=view, event_labels=EVENT_LABELS,
                           decision_labels=DECISION_LABELS, may_chase=current_user.has_role(*chase.CHASERS))


@bp.route("/<int:instance_id>/diagram.bpmn")
@login_required
def diagram(instance_id: int) -> ResponseReturnValue:
    """The BPMN of the version this instance runs on (not necessarily the file on disk now)."""
    try:
        view = instances.get_instance(current_user, instance_id)
    except ServiceError as exc:
        abort(exc.status)
    return Response(view.instance.spec.bpmn_xml, mimetype="application/xml")
