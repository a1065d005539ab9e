"""JSON API under /api/v1: the same services and rules as the pages."""
from __future__ import annotations

from io import BytesIO
from pathlib import Path
from typing import Any

import yaml
from flask import jsonify, request, send_file
from flask.typing import ResponseReturnValue

from app.api import bp
from app.api.auth import api_user, error, token_required
from app.api.serializers import instance_dict, task_dict
from app.database import write_transaction
from app.extensions import db
from app.scoring import library
from app.services import (
    accounts,
    appeals,
    chase,
    instances,
    objects,
    plan_changes,
    plans,
    results,
    score_entry,
    scoring,
    scoring_round,
)
from app.services import tasks as task_service
from app.services.errors import InvalidRows, ServiceError, Throttled

OPENAPI_PATH = Path(__file__).with_name("openapi.yaml")


@bp.errorhandler(ServiceError)
def _service_error(exc: ServiceError) -> ResponseReturnValue:
    return error(exc.status, exc.message, exc.rows if isinstance(exc, InvalidRows) else exc.errors)


@bp.errorhandler(404)
def _not_found(_exc: Exception) -> ResponseReturnValue:
    return error(404, "不存在")


@bp.errorhandler(405)
def _not_allowed(_exc: Exception) -> ResponseReturnValue:
    return error(405, "不支持此方法")


def _json_body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ServiceError("请求体须为 JSON 对象", {"body": ["须为 JSON 对象。"]})
    return body


@bp.route("/openapi.json")
def openapi() -> ResponseReturnValue:
    return jsonify(yaml.safe_load(OPENAPI_PATH.read_text(encoding="utf-8")))


@bp.route("/auth/token", methods=["POST"])
def token() -> ResponseReturnValue:
    body = _json_body()
    try:
        with write_transaction():
            user = accounts.authenticate(str(body.get("username", "")), str(body.get("password", "")),
                                         request.remote_addr or "?")
            issued = None if user is None else accounts.issue_token(user)
    except Throttled as exc:
        return error(429, exc.message)
    if issued is None:
        return error(401, "用户名或密码错误")
    value, row = issued
    return jsonify({"token": value, "expires_at": row.expires_at.isoformat()})


@bp.route("/units")
@token_required
def list_units() -> ResponseReturnValue:
    import sqlalchemy as sa

    from app.models import Unit
    units = db.session.scalars(sa.select(Unit).order_by(Unit.kind, Unit.code))
    return jsonify({"items": [{"code": u.code, "name": u.name, "kind": u.kind, "active": u.active} for u in units]})


@bp.route("/units/<code>/results")
@token_required
def unit_results(code: str) -> ResponseReturnValue:
    _unit, items = results.unit_history(api_user(), code)
    return jsonify({"items": items})


@bp.route("/units/import", methods=["POST"])
@token_required
def import_units() -> ResponseReturnValue:
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return error(422, "请上传 .xlsx 文件（表单字段 file）", [{"row": 0, "message": "缺少文件"}])
    with write_transaction():
        created = objects.import_units(api_user(), upload.read())
    return jsonify({"created": len(created)}), 201


@bp.route("/units/export")
@token_required
def export_units() -> ResponseReturnValue:
    return send_file(BytesIO(objects.export_units(api_user())), download_name="考核对象.xlsx", as_attachment=True,
                     mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")


@bp.route("/tasks")
@token_required
def list_tasks() -> ResponseReturnValue:
    try:
        limit = int(request.args.get("limit", 50))
    except ValueError:
        return error(422, "limit 须为整数", {"limit": ["须为整数。"]})
    page = task_service.list_tasks(api_user(), task_service.TaskFilter(
        scope=request.args.get("scope", "mine"), process=request.args.get("process") or None,
        overdue=request.args.get("overdue") in ("1", "true"), q=request.args.get("q") or None,
        limit=limit, cursor=request.args.get("cursor") or None))
    return jsonify({"items": [task_dict(t) for t in page.items], "next_cursor": page.next_cursor})


@bp.route("/tasks/<int:task_id>")
@token_required
def get_task(task_id: int) -> ResponseReturnValue:
    task = task_service.get_task(api_user(), task_id)
    spec = task_service.form_spec(task)
    return jsonify({**task_dict(task), "form": spec.describe(),
                    "can_act": task_service.may_act(api_user(), task)})


@bp.route("/tasks/<int:task_id>/claim", methods=["POST"])
@token_required
def claim(task_id: int) -> ResponseReturnValue:
    with write_transaction():
        task = task_service.claim(api_user(), task_id)
    return jsonify(task_dict(task))


@bp.route("/tasks/<int:task_id>/unclaim", methods=["POST"])
@token_required
def unclaim(task_id: int) -> ResponseReturnValue:
    with write_transaction():
        task = task_service.unclaim(api_user(), task_id)
    return jsonify(task_dict(task))


@bp.route("/tasks/<int:task_id>/chase", methods=["POST"])
@token_required
def chase_task(task_id: int) -> ResponseReturnValue:
    body = _json_body() if request.get_data() else {}
    with write_transaction():
        task = chase.chase_by_hand(api_user(), task_id, str(body.get("comment") or ""))
    return jsonify(task_dict(task))


@bp.route("/tasks/<int:task_id>/complete", methods=["POST"])
@token_required
def complete(task_id: int) -> ResponseReturnValue:
    body = _json_body()
    data = body.get("data", {})
    if not isinstance(data, dict):
        return error(422, "data 须为对象", {"data": ["须为对象。"]})
    with write_transaction():
        instance = task_service.complete(api_user(), task_id, data)
    view = instances.get_instance(api_user(), instance.id)
    return jsonify(instance_dict(view.instance, view.open_tasks, view.events))


@bp.route("/instances/<int:instance_id>")
@token_required
def get_instance(instance_id: int) -> ResponseReturnValue:
    view = instances.get_instance(api_user(), instance_id)
    return jsonify(instance_dict(view.instance, view.open_tasks, view.events))


@bp.route("/plans", methods=["GET", "POST"])
@token_required
def plans_collection() -> ResponseReturnValue:
    if request.method == "GET":
        return jsonify({"items": [plans.plan_dict(p) for p in plans.list_plans(api_user())]})
    body = _json_body()
    with write_transaction():
        plan = plans.create_plan(api_user(), body)
    return jsonify(plans.plan_dict(plan)), 201


@bp.route("/plans/<int:plan_id>", methods=["GET", "PUT"])
@token_required
def plan_item(plan_id: int) -> ResponseReturnValue:
    plan = plans.get_plan(api_user(), plan_id)
    if request.method == "GET" and request.args.get("version"):
        version = request.args.get("version", type=int)
        if version is None or version < 1:
            return error(422, "version 须为正整数", {"version": ["须为正整数。"]})
        return jsonify(plan_changes.plan_at_version(api_user(), plan_id, version))
    if request.method == "PUT":
        body = _json_body()
        with write_transaction():
            plan = plans.update_plan(api_user(), plan, body)
    return jsonify(plans.plan_dict(plan))


@bp.route("/indicator-templates")
@token_required
def indicator_templates() -> ResponseReturnValue:
    return jsonify({"items": [{"key": t.key, "name": t.name, "description": t.description, "source": t.source}
                              for t in library.list_templates()]})


@bp.route("/indicator-templates/<key>")
@token_required
def indicator_template(key: str) -> ResponseReturnValue:
    try:
        return jsonify(library.load_template(key))
    except library.TemplateNotFound as exc:
        return error(404, str(exc))


@bp.route("/plans/<int:plan_id>/results/publish", methods=["POST"])
@token_required
def publish_results(plan_id: int) -> ResponseReturnValue:
    body = _json_body()
    if body.get("stage") not in ("preliminary", "final"):
        return error(422, "发布阶段有误", {"stage": ["须为 preliminary（初步结果）或 final（最终结果）。"]})
    scoring_round.plan_for_publication(api_user(), plan_id)
    with write_transaction():
        snapshot = scoring_round.publish_results(api_user(), plan_id, body)
    plan = plans.get_plan(api_user(), plan_id)
    return jsonify({"plan": plan_id, "stage": snapshot.stage, "snapshot": snapshot.id,
                    "results_stage": plan.results_stage,
                    "appeal_deadline": plan.appeal_deadline.isoformat() if plan.appeal_deadline else None})


@bp.route("/appeals", methods=["GET", "POST"])
@token_required
def appeals_collection() -> ResponseReturnValue:
    if request.method == "GET":
        plan_id = request.args.get("plan", type=int)
        return jsonify({"items": [appeals.appeal_dict(a) for a in appeals.list_appeals(api_user(), plan_id)]})
    if request.mimetype == "multipart/form-data":
        body: dict[str, Any] = {k: request.form.get(k) for k in ("plan", "object", "indicator", "reason")}
        files = request.files.getlist("files")
    else:
        body, files = _json_body(), []
    with write_transaction():
        appeal = appeals.file_appeal(api_user(), body, files)
    return jsonify({"id": appeal.id, "instance_id": appeal.instance_id}), 201


@bp.route("/appeals/<int:appeal_id>")
@token_required
def appeal_item(appeal_id: int) -> ResponseReturnValue:
    return jsonify(appeals.appeal_dict(appeals.get_appeal(api_user(), appeal_id)))


@bp.route("/plans/<int:plan_id>/changes", methods=["GET", "POST"])
@token_required
def plan_changes_collection(plan_id: int) -> ResponseReturnValue:
    if request.method == "GET":
        plan = plans.get_plan(api_user(), plan_id)
        return jsonify({"items": [plan_changes.change_dict(c) for c in plan_changes.changes_of(plan)]})
    body = _json_body()
    with write_transaction():
        change = plan_changes.request_change(api_user(), plan_id, body)
    return jsonify({"id": change.id, "instance_id": change.instance_id}), 201


@bp.route("/plans/<int:plan_id>/scores", methods=["POST"])
@token_required
def submit_score(plan_id: int) -> ResponseReturnValue:
    body = _json_body()
    with write_transaction():
        entry = score_entry.submit_score(api_user(), plan_id, body)
        result = {"object": entry.object.code, "indicator": entry.indicator.code,
                  "score": format(entry.score.normalize(), "f"), "group": entry.group_id}
    return jsonify(result), 201


@bp.route("/plans/<int:plan_id>/results")
@token_required
def plan_results(plan_id: int) -> ResponseReturnValue:
    computed = scoring.results_for(api_user(), plan_id)
    if wanted := request.args.get("object"):    # one object's row: only its evidence is read
        computed.results = [r for r in computed.results if r.object == wanted]
        computed.restricted = True
    evidence = scoring.evidence_for(computed, [r.object for r in computed.results] if computed.restricted else None)
    return jsonify({"complete": computed.complete,
                    "items": [scoring.result_dict(r, evidence) for r in computed.results]})


@bp.route("/plans/<int:plan_id>/submit", methods=["POST"])
@token_required
def submit_plan(plan_id: int) -> ResponseReturnValue:
    plan = plans.get_plan(api_user(), plan_id)
    with write_transaction():
        instance = plans.submit_plan(api_user(), plan)
    db.session.refresh(plan)
    return jsonify({"instance_id": instance.id, "status": plan.status}), 201
