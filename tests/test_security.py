"""CSRF on every form, login throttling, password storage and session hygiene."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask

from app.extensions import db
from app.models import User
from tests.conftest import PASSWORD, make_app


@pytest.fixture
def csrf_app(instance_dir: Path, app: Flask) -> Flask:
    """The same database, with CSRF protection on as in production."""
    return make_app(instance_dir, WTF_CSRF_ENABLED=True)


def token_from(html: str) -> str:
    match = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', html) or \
        re.search(r'id="csrf_token" name="csrf_token" type="hidden" value="([^"]+)"', html)
    assert match, "no csrf_token field in the page"
    return match.group(1)


def test_forms_without_a_csrf_token_are_refused(people, csrf_app):
    client = csrf_app.test_client()
    assert client.post("/login", data={"username": "manager", "password": PASSWORD}).status_code == 400
    page = client.get("/login").data.decode()
    response = client.post("/login", data={"username": "manager", "password": PASSWORD,
                                           "csrf_token": token_from(page)})
    assert response.status_code == 302
    # Logged in: a state-changing form still needs the token.
    assert client.post("/logout").status_code == 400
    plans_page = client.get("/plans/new").data.decode()
    assert client.post("/logout", data={"csrf_token": token_from(plans_page)}).status_code == 302


def test_every_page_form_carries_a_csrf_token(people, csrf_app, api_as):
    from tests.conftest import plan_payload
    plan_id = api_as("manager").post("/plans", plan_payload()).json["id"]
    client = csrf_app.test_client()
    page = client.get("/login").data.decode()
    client.post("/login", data={"username": "admin", "password": PASSWORD, "csrf_token": token_from(page)})
    for url in ("/inbox", "/plans/", f"/plans/{plan_id}", "/admin/units", "/admin/users"):
        html = client.get(url).data.decode()
        for form in re.findall(r"<form[^>]*method=\"post\"[^>]*>(.*?)</form>", html, flags=re.S | re.I):
            assert "csrf_token" in form, f"a POST form on {url} has no CSRF token"


def test_the_api_refuses_the_session_cookie(people, login, client):
    login("reviewer")
    assert client.get("/api/v1/tasks").status_code == 401


def test_login_is_throttled_after_repeated_failures(people, client):
    for _ in range(5):
        assert client.post("/login", data={"username": "reviewer", "password": "wrong-pass"}).status_code == 401
    refused = client.post("/login", data={"username": "reviewer", "password": PASSWORD})
    assert refused.status_code == 429 and "登录失败次数过多" in refused.data.decode()
    api = client.post("/api/v1/auth/token", json={"username": "reviewer", "password": PASSWORD})
    assert api.status_code == 429
    # Another account from elsewhere is not affected.
    assert client.post("/login", data={"username": "manager", "password": PASSWORD}).status_code == 302


def test_a_successful_login_clears_earlier_failures(people, client):
    for _ in range(4):
        client.post("/login", data={"username": "reviewer", "password": "wrong-pass"})
    assert client.post("/login", data={"username": "reviewer", "password": PASSWORD}).status_code == 302
    client.post("/logout")
    for _ in range(4):
        assert client.post("/login", data={"username": "reviewer", "password": "wrong-pass"}).status_code == 401
    assert client.post("/login", data={"username": "reviewer", "password": PASSWORD}).status_code == 302


def test_passwords_are_stored_as_argon2id_hashes(people, app):
    with app.app_context():
        stored = db.session.scalar(sa.select(User.password_hash).where(User.username == "reviewer"))
    assert stored.startswith("$argon2id$") and PASSWORD not in stored


def test_an_inactive_user_cannot_log_in_or_use_a_token(people, app, client, api_as):
    api = api_as("reviewer")
    with app.app_context():
        user = db.session.scalar(sa.select(User).where(User.username == "reviewer"))
        user.active = False
        db.session.commit()
    assert client.post("/login", data={"username": "reviewer", "password": PASSWORD}).status_code == 401
    assert api.get("/tasks").status_code == 401
