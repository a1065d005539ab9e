"""The process instance page: diagram with completed and current steps, and the history."""
from __future__ import annotations

from flask import Response, abort, render_template
from flask.typing import ResponseReturnValue
from flask_login import current_user, login_required

from app.instances import bp
from app.services import instances
from app.services.errors import ServiceError

EVENT_LABELS = {
    "started": "发起", "completed": "办理", "claimed": "认领", "released": "释放", "timer": "定时器触发",
    "task_cancelled": "任务撤销", "instance_completed": "流程结束", "overdue": "逾期", "chased": "催办",
}
DECISION_LABELS = {"approve": "通过", "return": "退回", "reject": "驳回", "agree": "同意", "disagree": "不同意",
                   "accept": "受理"}


@bp.route("/<int:instance_id>")
@login_required
def show(instance_id: int) -> ResponseReturnValue:
    try:
        view = instances.get_instance(current_user, instance_id)
    except ServiceError as exc:
        abort(exc.status)
    return render_template("instances/show.html", view=view, event_labels=EVENT_LABELS,
                           decision_labels=DECISION_LABELS)


@bp.route("/<int:instance_id>/diagram.bpmn")
@login_required
def diagram(instance_id: int) -> ResponseReturnValue:
    """The BPMN of the version this instance runs on (not necessarily the file on disk now)."""
    try:
        view = instances.get_instance(current_user, instance_id)
    except ServiceError as exc:
        abort(exc.status)
    return Response(view.instance.spec.bpmn_xml, mimetype="application/xml")
