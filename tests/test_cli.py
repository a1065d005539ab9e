"""The command line: init, units, users, demo and validate."""
from __future__ import annotations

import shutil
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from flask import Flask

from app.extensions import db
from app.models import HumanTask, Plan, Unit, User
from tests.conftest import PROJECT, make_app

# ----------------------------------------------------------------------------- init

@pytest.fixture
def fresh_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Flask]:
    """An app with its own instance/ folder and its own SQLite database, untouched by other tests."""
    monkeypatch.setenv("APP_INSTANCE_PATH", str(tmp_path / "instance"))
    fresh = make_app(tmp_path, SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'cli.db'}")
    yield fresh
    with fresh.app_context():
        db.engine.dispose()


def test_init_creates_the_instance_folder_and_is_idempotent(fresh_app):
    instance = Path(fresh_app.instance_path)
    key_path = Path(fresh_app.config["SIGNING_KEY_PATH"])
    cert_path = Path(fresh_app.config["SIGNING_CERT_PATH"])
    assert not instance.exists()

    first = fresh_app.test_cli_runner().invoke(args=["init"])
    assert first.exit_code == 0, first.output
    assert f"created {instance / 'config.py'}" in first.output and f"created {cert_path}" in first.output
    assert "database at head" in first.output
    config_text = (instance / "config.py").read_text()
    key_bytes, cert_bytes = key_path.read_bytes(), cert_path.read_bytes()

    second = fresh_app.test_cli_runner().invoke(args=["init"])
    assert second.exit_code == 0, second.output
    assert f"kept    {instance / 'config.py'}" in second.output and f"kept    {cert_path}" in second.output
    # Nothing is regenerated: the secret key and the signing identity survive a second run.
    assert (instance / "config.py").read_text() == config_text
    assert key_path.read_bytes() == key_bytes and cert_path.read_bytes() == cert_bytes
    assert "SECRET_KEY = '" in config_text


def test_init_keeps_secrets_private(fresh_app):
    assert fresh_app.test_cli_runner().invoke(args=["init"]).exit_code == 0
    key_path = Path(fresh_app.config["SIGNING_KEY_PATH"])
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert stat.S_IMODE((Path(fresh_app.instance_path) / "config.py").stat().st_mode) == 0o600


def test_init_writes_a_self_signed_certificate_for_the_signing_key(fresh_app):
    assert fresh_app.test_cli_runner().invoke(args=["init"]).exit_code == 0
    key = serialization.load_pem_private_key(Path(fresh_app.config["SIGNING_KEY_PATH"]).read_bytes(), None)
    cert = x509.load_pem_x509_certificate(Path(fresh_app.config["SIGNING_CERT_PATH"]).read_bytes())
    assert cert.issuer == cert.subject
    cert.verify_directly_issued_by(cert)           # raises unless the certificate signed itself
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    assert cert.public_key().public_bytes(serialization.Encoding.PEM, public) == \
        key.public_key().public_bytes(serialization.Encoding.PEM, public)
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and usage.content_commitment and not usage.key_cert_sign


def test_init_migrates_the_database_to_head(fresh_app):
    assert fresh_app.test_cli_runner().invoke(args=["init"]).exit_code == 0
    with fresh_app.app_context():
        tables = set(sa.inspect(db.engine).get_table_names())
        assert {"alembic_version", "user_account", "unit", "plan", "process_instance", "human_task"} <= tables


# ----------------------------------------------------------------------------- units and users

def test_units_create(app):
    result = app.test_cli_runner().invoke(args=["units", "create", "GAT", "--name", "省公安厅", "--kind", "department"])
    assert result.exit_code == 0, result.output
    assert "unit GAT created" in result.output
    with app.app_context():
        unit = db.session.scalar(sa.select(Unit).where(Unit.code == "GAT"))
        assert (unit.name, unit.kind, unit.active) == ("省公安厅", "department", True)


def test_units_create_refuses_a_duplicate_code(app):
    runner = app.test_cli_runner()
    runner.invoke(args=["units", "create", "GAT", "--name", "省公安厅", "--kind", "department"])
    again = runner.invoke(args=["units", "create", "GAT", "--name", "另一个", "--kind", "city"])
    assert again.exit_code != 0
    assert "编码 GAT 已存在" in again.output
    with app.app_context():
        assert db.session.scalar(sa.select(Unit.name).where(Unit.code == "GAT")) == "省公安厅"


def test_units_create_refuses_an_unknown_kind(app):
    result = app.test_cli_runner().invoke(args=["units", "create", "GAT", "--name", "省公安厅", "--kind", "ministry"])
    assert result.exit_code == 2
    assert "--kind" in result.output and "ministry" in result.output
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Unit)) == 0


def test_users_create_reads_the_password_from_stdin(app, make_unit, client):
    make_unit("KHB", "office")
    result = app.test_cli_runner().invoke(
        args=["users", "create", "lishen", "--name", "李审核", "--role", "reviewer", "--role", "leader",
              "--unit", "KHB", "--password-stdin"], input="secret123\n")
    assert result.exit_code == 0, result.output
    assert "user lishen created" in result.output
    with app.app_context():
        user = db.session.scalar(sa.select(User).where(User.username == "lishen"))
        assert user.roles == {"reviewer", "leader"} and user.unit.code == "KHB"
    token = client.post("/api/v1/auth/token", json={"username": "lishen", "password": "secret123"})
    assert token.status_code == 200           # the newline was not part of the password


def test_users_create_refuses_an_unknown_unit(app):
    result = app.test_cli_runner().invoke(
        args=["users", "create", "lishen", "--name", "李审核", "--role", "reviewer", "--unit", "NOPE",
              "--password-stdin"], input="secret123\n")
    assert result.exit_code != 0
    assert "单位 NOPE 不存在" in result.output
    with app.app_context():
        assert db.session.scalar(sa.select(User).where(User.username == "lishen")) is None


def test_users_create_refuses_a_short_password_and_an_unknown_role(app):
    runner = app.test_cli_runner()
    short = runner.invoke(args=["users", "create", "lishen", "--name", "李审核", "--role", "reviewer",
                                "--password-stdin"], input="short\n")
    assert short.exit_code != 0 and "密码至少 8 位" in short.output
    role = runner.invoke(args=["users", "create", "lishen", "--name", "李审核", "--role", "boss",
                               "--password-stdin"], input="secret123\n")
    assert role.exit_code == 2 and "--role" in role.output


# ----------------------------------------------------------------------------- demo

def test_demo_runs_twice_and_leaves_a_plan_waiting_for_review(app):
    runner = app.test_cli_runner()
    for _ in range(2):
        result = runner.invoke(args=["demo"])
        assert result.exit_code == 0, result.output
        assert "Demo@2026" in result.output
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 11
        statuses = sorted(db.session.scalars(sa.select(Plan.status)))
        assert statuses == ["draft", "in_review"]
        submitted = db.session.scalar(sa.select(Plan).where(Plan.status == "in_review"))
        open_tasks = db.session.scalars(sa.select(HumanTask).where(
            HumanTask.instance_id == submitted.instance_id, HumanTask.status == "open")).all()
        assert [(t.name, t.role) for t in open_tasks] == [("审核考核计划", "reviewer")]


def test_demo_users_can_log_in(app, client):
    result = app.test_cli_runner().invoke(args=["demo"])
    assert result.exit_code == 0, result.output
    token = client.post("/api/v1/auth/token", json={"username": "reviewer", "password": "Demo@2026"})
    assert token.status_code == 200
    tasks = client.get("/api/v1/tasks?scope=candidate", headers={"Authorization": f"Bearer {token.json['token']}"})
    assert [t["name"] for t in tasks.json["items"]] == ["审核考核计划"]


# ----------------------------------------------------------------------------- validate

@pytest.fixture
def content_copy(tmp_path: Path) -> tuple[Path, Path]:
    bpmn, forms = tmp_path / "bpmn", tmp_path / "forms"
    shutil.copytree(PROJECT / "bpmn", bpmn)
    shutil.copytree(PROJECT / "forms", forms)
    return bpmn, forms


def test_validate_passes_on_the_repository_content(app):
    result = app.test_cli_runner().invoke(args=["validate"])
    assert result.exit_code == 0, result.output
    assert "consistent" in result.output


def test_validate_fails_when_a_form_is_missing(app, content_copy, monkeypatch):
    bpmn, forms = content_copy
    (forms / "plan_review.yaml").unlink()
    monkeypatch.setitem(app.config, "FORMS_DIR", forms)
    result = app.test_cli_runner().invoke(args=["validate"])
    assert result.exit_code == 1
    assert "plan_approval.bpmn / review_plan: form 'plan_review' not found" in result.output


def test_validate_fails_when_a_form_is_unused(app, content_copy, monkeypatch):
    _, forms = content_copy
    shutil.copy(forms / "plan_revise.yaml", forms / "orphan.yaml")
    monkeypatch.setitem(app.config, "FORMS_DIR", forms)
    result = app.test_cli_runner().invoke(args=["validate"])
    assert result.exit_code == 1 and "forms/orphan.yaml is not used" in result.output


def test_validate_fails_on_a_broken_bpmn_and_names_the_file(app, content_copy, monkeypatch):
    bpmn, _ = content_copy
    path = bpmn / "plan_approval.bpmn"
    path.write_text(path.read_text(encoding="utf-8").replace("</bpmn:process>", "", 1), encoding="utf-8")
    monkeypatch.setitem(app.config, "BPMN_DIR", bpmn)
    result = app.test_cli_runner().invoke(args=["validate"])
    assert result.exit_code == 1
    assert "plan_approval.bpmn" in result.output and "not well-formed" in result.output


def test_validate_fails_on_a_bad_gateway_condition(app, content_copy, monkeypatch):
    bpmn, _ = content_copy
    path = bpmn / "plan_approval.bpmn"
    path.write_text(path.read_text(encoding="utf-8").replace('decision == "approve"', 'decision === "approve"'),
                    encoding="utf-8")
    monkeypatch.setitem(app.config, "BPMN_DIR", bpmn)
    result = app.test_cli_runner().invoke(args=["validate"])
    assert result.exit_code == 1
    assert "plan_approval.bpmn: gateway condition on 'gw_review'" in result.output
