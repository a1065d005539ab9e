"""GovAssure application factory."""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask, request

from app import config as app_config
from app.extensions import babel, csrf, db, login_manager, migrate


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    instance = app_config.instance_path()
    app = Flask(__name__, instance_path=str(instance), instance_relative_config=True)
    app.config.from_mapping(app_config.defaults(instance))
    app.config.from_pyfile("config.py", silent=True)
    app.config.from_prefixed_env("GOVASSURE")
    if test_config is not None:
        app.config.update(test_config)

    register_extensions(app)
    register_workflow(app)
    register_blueprints(app)
    register_commands(app)
    register_template_helpers(app)
    from app.celery import celery_init_app
    celery_init_app(app)
    return app


def _select_locale() -> str:
    """Simplified Chinese unless the user picked English (a cookie set from the page footer)."""
    chosen = request.cookies.get("lang")
    return chosen if chosen in ("zh_CN", "en") else "zh_CN"


def register_extensions(app: Flask) -> None:
    db.init_app(app)
    migrate.init_app(app, db, directory=str(Path(__file__).resolve().parent.parent / "migrations"))
    login_manager.init_app(app)
    csrf.init_app(app)
    babel.init_app(app, locale_selector=_select_locale)
    from app import database as app_db
    with app.app_context():
        app_db.configure_engine(db.engine)
    from app.auth import loader  # noqa: F401  (registers the Flask-Login user loader)


def register_workflow(app: Flask) -> None:
    from app.services import (
        appeals,
        change_orders,
        chase,
        meetings,
        plan_changes,
        plans,
        rectifications,
        scoring_round,
    )
    from app.workflow import runtime
    app.extensions["bpmn"] = runtime.load_registry(Path(app.config["BPMN_DIR"]), Path(app.config["FORMS_DIR"]))
    # imported for their listeners (cases, deadline timers)
    del appeals, chase, change_orders, meetings, plans, plan_changes, rectifications, scoring_round


def register_blueprints(app: Flask) -> None:
    from app.admin import bp as admin_bp
    from app.api import bp as api_bp
    from app.appeals import bp as appeals_bp
    from app.auth import bp as auth_bp
    from app.changes import bp as changes_bp
    from app.datasources import bp as datasources_bp
    from app.documents import bp as documents_bp
    from app.inbox import bp as inbox_bp
    from app.instances import bp as instances_bp
    from app.meetings import bp as meetings_bp
    from app.notifications import bp as notifications_bp
    from app.plans import bp as plans_bp
    from app.rectifications import bp as rectifications_bp
    from app.results import bp as results_bp

    app.register_blueprint(auth_bp)
    app.register_blueprint(inbox_bp)
    app.register_blueprint(plans_bp, url_prefix="/plans")
    app.register_blueprint(results_bp)   # /plans/<id>/results, /objects/<code>/results, /public/…
    app.register_blueprint(instances_bp, url_prefix="/instances")
    app.register_blueprint(admin_bp, url_prefix="/admin")
    app.register_blueprint(datasources_bp)   # /datasources… and /plans/<id>/collect
    app.register_blueprint(appeals_bp)       # /appeals…
    app.register_blueprint(notifications_bp)   # /notifications…
    app.register_blueprint(rectifications_bp)   # /rectifications…
    app.register_blueprint(changes_bp)       # /change-orders…
    app.register_blueprint(meetings_bp)      # /meetings…, /action-items…
    app.register_blueprint(documents_bp)     # /documents…, /verify…
    app.register_blueprint(api_bp, url_prefix="/api/v1")
    csrf.exempt(api_bp)  # the API authenticates with bearer tokens only, never the session cookie
    from app import errors
    errors.register(app)


def register_commands(app: Flask) -> None:
    from app.cli import register
    register(app)


def register_template_helpers(app: Flask) -> None:
    from app import templating
    templating.register(app)
