"""Shared fixtures. The suite runs on SQLite by default and on PostgreSQL when DATABASE_URL says so.

Tests commit for real (the concurrency tests need it), so every table is emptied after each test.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher
from flask import Flask
from flask.testing import FlaskClient

from app import create_app
from app.database import write_transaction
from app.extensions import db
from app.models import Role, Unit, User
from app.services import accounts

PROJECT = Path(__file__).resolve().parent.parent
PASSWORD = "Passw0rd!x"


def _database_url(tmp: Path) -> str:
    return os.environ.get("DATABASE_URL") or f"sqlite:///{tmp / 'test.db'}"


@pytest.fixture(scope="session")
def instance_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="govassure-test-"))
    os.environ["APP_INSTANCE_PATH"] = str(path)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def make_app(instance_dir: Path, **overrides: Any) -> Flask:
    config = {
        "TESTING": True, "SECRET_KEY": "test-secret", "WTF_CSRF_ENABLED": False,
        "SQLALCHEMY_DATABASE_URI": _database_url(instance_dir),
        "SERVER_NAME": None,
        # Signed documents render in the request that completes their case (the worker path has its own test).
        "DOCUMENTS_RENDER_INLINE": True,
    }
    config.update(overrides)
    return create_app(config)


@pytest.fixture(scope="session")
def app(instance_dir: Path) -> Iterator[Flask]:
    # Cheap hashes in tests; production uses the library's recommended parameters.
    accounts._hasher = PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)
    flask_app = make_app(instance_dir)
    from app.cli.setup import ensure_signing_identity
    ensure_signing_identity(flask_app.config["SIGNING_KEY_PATH"], flask_app.config["SIGNING_CERT_PATH"])
    with flask_app.app_context():
        from flask_migrate import upgrade
        upgrade(directory=str(PROJECT / "migrations"))
    # No app context stays pushed: each request gets its own, and its own session, as in production.
    yield flask_app


@pytest.fixture(autouse=True)
def _clean_tables(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "app" not in request.fixturenames:
        return
    flask_app = request.getfixturevalue("app")
    with flask_app.app_context():
        db.session.rollback()
        tables = [t.name for t in reversed(db.metadata.sorted_tables)]
        with db.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE")
            else:
                for table in tables:
                    conn.exec_driver_sql(f'DELETE FROM "{table}"')  # noqa: S608  (our own table names)
        db.session.remove()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def make_unit(app: Flask) -> Callable[..., Unit]:
    def _make(code: str, kind: str = "department", name: str | None = None) -> Unit:
        with app.app_context(), write_transaction():
            return accounts.create_unit(code, name or f"单位{code}", kind)
    return _make


@pytest.fixture
def make_user(app: Flask, make_unit: Callable[..., Unit]) -> Callable[..., User]:
    def _make(username: str, *roles: str, unit: str | None = "KHB", name: str | None = None) -> User:
        with app.app_context():
            exists = db.session.scalar(sa.select(Unit.id).where(Unit.code == unit)) if unit else True
        if not exists:
            make_unit(unit, "office" if unit == "KHB" else "department")
        with app.app_context(), write_transaction():
            return accounts.create_user(username, name or username, PASSWORD, list(roles), unit)
    return _make


@pytest.fixture
def people(make_user: Callable[..., User], make_unit: Callable[..., Unit]) -> dict[str, User]:
    """The cast of a plan approval: two managers, two reviewers, an assessed unit and an admin."""
    for code in ("GAT", "CS"):
        make_unit(code, "department" if code == "GAT" else "city")
    return {
        "manager": make_user("manager", Role.ASSESSMENT_MANAGER, name="王考核"),
        "manager2": make_user("manager2", Role.ASSESSMENT_MANAGER, name="钱考核"),
        "reviewer": make_user("reviewer", Role.REVIEWER, name="李审核"),
        "reviewer2": make_user("reviewer2", Role.REVIEWER, name="孙审核"),
        "leader": make_user("leader", Role.LEADER, name="赵主任"),
        "unit_user": make_user("unit_gat", Role.ASSESSED_UNIT, unit="GAT", name="公安厅联络员"),
        "admin": make_user("admin", Role.ADMIN, name="管理员"),
    }


@pytest.fixture
def doc_cast(make_user: Callable[..., User], make_unit: Callable[..., Unit]) -> dict[str, User]:
    """The parties of a change order (contractor, supervisor, owner units) and a meeting's people."""
    make_unit("KHB", "office", "省政务服务绩效考核办公室")
    make_unit("YW", "contractor", "省政务云运维服务有限公司")
    make_unit("JL", "supervisor", "恒信工程监理有限公司")
    make_unit("SJ", "owner", "省政务服务和大数据中心")
    make_unit("YW2", "contractor", "另一家运维公司")
    return {
        "contractor": make_user("contractor", Role.CONTRACTOR, unit="YW", name="孙运维"),
        "supervisor": make_user("supervisor", Role.SUPERVISOR, unit="JL", name="吴监理"),
        "owner": make_user("owner", Role.OWNER, unit="SJ", name="郑业主"),
        "leader": make_user("leader", Role.LEADER, name="赵主任"),
        "manager": make_user("manager", Role.ASSESSMENT_MANAGER, name="王考核"),
        "admin": make_user("admin", Role.ADMIN, name="管理员"),
        "outsider": make_user("outsider", Role.CONTRACTOR, unit="YW2", name="钱外单位"),
        "owner_clerk": make_user("owner_clerk", Role.SUPERVISOR, unit="SJ", name="冯错角色"),
    }


def plan_payload(**overrides: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "name": "2027年度运维考核计划", "cycle": "year", "period_start": "2027-01-01",
        "period_end": "2027-12-31",
        "indicators": [
            {"code": "A", "name": "服务质量", "weight": 60, "method": "manual", "max_score": 100,
             "standard": "按细则", "children": [
                 {"code": "A1", "name": "响应及时率", "weight": 40, "method": "auto", "max_score": 100},
                 {"code": "A2", "name": "服务态度", "weight": 60, "method": "manual", "max_score": 10}]},
            {"code": "B", "name": "系统运行", "weight": 40, "method": "auto", "max_score": 100},
        ],
        "evaluators": [{"role": "evaluator", "weight": 70}, {"unit": "KHB", "weight": 30}],
        "objects": ["GAT", "CS"],
    }
    payload.update(overrides)
    return payload


def set_results_stage(app: Flask, plan_id: int, stage: str | None, *, public: bool | None = None) -> None:
    """Publish (or withdraw) a plan's results directly: the publication step itself is a BPMN process."""
    from app.models import Plan
    with app.app_context(), write_transaction():
        plan = db.session.get(Plan, plan_id)
        assert plan is not None
        plan.results_stage = stage
        if public is not None:
            plan.public = public


class Api:
    """A JSON client authenticated with a bearer token."""

    def __init__(self, client: FlaskClient, token: str) -> None:
        self.client, self.headers = client, {"Authorization": f"Bearer {token}"}

    def get(self, url: str, **kw: Any) -> Any:
        return self.client.get("/api/v1" + url, headers=self.headers, **kw)

    def post(self, url: str, json: Any = None, **kw: Any) -> Any:
        return self.client.post("/api/v1" + url, json=json if json is not None else {}, headers=self.headers, **kw)

    def put(self, url: str, json: Any = None) -> Any:
        return self.client.put("/api/v1" + url, json=json, headers=self.headers)


@pytest.fixture
def api_as(client: FlaskClient) -> Callable[[str], Api]:
    def _as(username: str) -> Api:
        response = client.post("/api/v1/auth/token", json={"username": username, "password": PASSWORD})
        assert response.status_code == 200, response.json
        return Api(client, response.json["token"])
    return _as


@pytest.fixture
def login(client: FlaskClient) -> Callable[[str], FlaskClient]:
    def _login(username: str) -> FlaskClient:
        client.post("/logout")
        response = client.post("/login", data={"username": username, "password": PASSWORD})
        assert response.status_code == 302, response.data.decode()[:500]
        return client
    return _login


@pytest.fixture
def source_server() -> Iterator[Any]:
    """A local HTTP server standing in for a data source (tests/source_server.py)."""
    from tests.source_server import SourceServer
    with SourceServer() as server:
        yield server
