"""API for data sources and automatic collection (A2.4); the rules live in the services."""
from __future__ import annotations

from flask import jsonify, request
from flask.typing import ResponseReturnValue

from app.api import bp
from app.api.auth import api_user, token_required
from app.database import write_transaction
from app.services import collection, datasources
from app.services.errors import Invalid


@bp.route("/datasources", methods=["GET", "POST"])
@token_required
def datasources_collection() -> ResponseReturnValue:
    if request.method == "GET":
        return jsonify({"items": [datasources.source_dict(s) for s in datasources.list_sources(api_user())]})
    with write_transaction():
        source = datasources.create_source(api_user(), request.get_json(silent=True))
    return jsonify(datasources.source_dict(source)), 201


@bp.route("/datasources/<int:source_id>")
@token_required
def datasource_item(source_id: int) -> ResponseReturnValue:
    return jsonify(datasources.source_dict(datasources.get_source(api_user(), source_id)))


@bp.route("/datasources/<int:source_id>/runs")
@token_required
def datasource_runs(source_id: int) -> ResponseReturnValue:
    source = datasources.get_source(api_user(), source_id)
    return jsonify({"items": [datasources.run_dict(r) for r in datasources.runs_of(source)]})


@bp.route("/datasources/<int:source_id>/run", methods=["POST"])
@token_required
def datasource_run(source_id: int) -> ResponseReturnValue:
    return jsonify(datasources.run_dict(collection.run_now(api_user(), source_id)))


@bp.route("/datasources/<int:source_id>/file", methods=["POST"])
@token_required
def datasource_file(source_id: int) -> ResponseReturnValue:
    source = datasources.get_source(api_user(), source_id)
    upload = request.files.get("file")
    if upload is None:
        raise Invalid("请上传 CSV 文件（表单字段 file）", {"file": ["缺少文件。"]})
    with write_transaction():
        source = datasources.store_file(api_user(), source, upload.read())
    return jsonify(datasources.source_dict(source))


@bp.route("/plans/<int:plan_id>/collect", methods=["POST"])
@token_required
def collect_plan(plan_id: int) -> ResponseReturnValue:
    runs = collection.collect_plan(api_user(), plan_id)
    return jsonify({"items": [datasources.run_dict(r) for r in runs]})
