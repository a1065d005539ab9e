"""Data-source pages (数据源) for admins and assessment managers, and a plan's 采集数据 button."""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user, login_required

from app.database import write_transaction
from app.datasources import bp
from app.models import CollectionRun, DataSource
from app.services import collection, datasources
from app.services.errors import Invalid, ServiceError

LATEST_VALUES_SHOWN = 500


@bp.before_request
@login_required
def require_manager() -> None:
    if not datasources.may_manage(current_user):
        abort(403)


def _index(errors: dict[str, list[str]] | None = None, status: int = 200) -> ResponseReturnValue:
    # The auth header is write-only: it is never put back into the form, not even after an error.
    values = {k: v for k, v in request.form.items() if k != "auth_header"}
    sources = datasources.list_sources(current_user)
    return render_template("datasources/index.html", sources=sources, last_runs=datasources.last_runs(sources),
                           kinds=datasources.KIND_LABELS, errors=errors or {}, values=values,
                           retype_header=bool(errors and request.form.get("auth_header"))), status


@bp.route("/datasources", methods=["GET", "POST"])
def index() -> ResponseReturnValue:
    if request.method == "GET":
        return _index()
    try:
        with write_transaction():
            source = datasources.create_source(current_user, request.form.to_dict())
    except Invalid as exc:
        return _index(exc.errors, 422)
    flash(_("已添加数据源 %(name)s。", name=source.name), "success")
    return redirect(url_for("datasources.show", source_id=source.id))


def _source(source_id: int) -> DataSource:
    try:
        return datasources.get_source(current_user, source_id)
    except ServiceError as exc:
        abort(exc.status)


@bp.route("/datasources/<int:source_id>")
def show(source_id: int) -> ResponseReturnValue:
    source = _source(source_id)
    latest, values = collection.latest_values(source, LATEST_VALUES_SHOWN)
    return render_template("datasources/show.html", source=source, runs=datasources.runs_of(source),
                           latest=latest, values=values, kinds=datasources.KIND_LABELS,
                           triggers=datasources.TRIGGER_LABELS, values_limit=LATEST_VALUES_SHOWN)


def _flash_run(run: CollectionRun) -> None:
    if run.status == "ok":
        flash(_("%(name)s：采集成功，读取 %(n)d 条记录。", name=run.datasource.name, n=run.records_read), "success")
    else:
        problems = run.errors or []
        first = problems[0]["message"] if problems else ""
        flash(_("%(name)s：采集失败，共 %(n)d 个问题，未保存任何数据（之前的数据仍然有效）。%(first)s",
                name=run.datasource.name, n=len(problems), first=first), "danger")


@bp.route("/datasources/<int:source_id>/run", methods=["POST"])
def run(source_id: int) -> ResponseReturnValue:
    source = _source(source_id)
    _flash_run(collection.run_source(source.id, "manual", current_user))
    return redirect(url_for("datasources.show", source_id=source.id))


@bp.route("/datasources/<int:source_id>/file", methods=["POST"])
def upload(source_id: int) -> ResponseReturnValue:
    source = _source(source_id)
    upload = request.files.get("file")
    try:
        with write_transaction():
            datasources.store_file(current_user, source, upload.read() if upload else b"")
        flash(_("已上传文件。点击“立即采集”读取其中的数据。"), "success")
    except Invalid as exc:
        flash("；".join(m for ms in exc.errors.values() for m in ms), "danger")
    return redirect(url_for("datasources.show", source_id=source.id))


@bp.route("/plans/<int:plan_id>/collect", methods=["POST"])
def collect_plan(plan_id: int) -> ResponseReturnValue:
    try:
        runs = collection.collect_plan(current_user, plan_id)
    except ServiceError as exc:
        if exc.status != 409:
            abort(exc.status)
        flash(exc.message, "warning")
        return redirect(url_for("plans.show", plan_id=plan_id))
    if not runs:
        flash(_("此计划的自动指标没有配置数据源。"), "warning")
    for done in runs:
        _flash_run(done)
    return redirect(url_for("plans.show", plan_id=plan_id))
