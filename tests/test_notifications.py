"""The bell, the notifications page and API, and users' e-mail addresses (admin pages and CLI)."""
from __future__ import annotations

import re
from collections.abc import Callable

import sqlalchemy as sa
from flask import Flask

from app.database import write_transaction
from app.extensions import db
from app.models import Notification, User
from app.services.notifications import notify
from tests.conftest import PASSWORD


def notify_user(app: Flask, username: str, title: str, link: str = "", body: str = "") -> int:
    with app.app_context(), write_transaction():
        user = db.session.scalar(sa.select(User).where(User.username == username))
        [row] = notify([user], title, body, link)
        db.session.flush()
        return row.id


def read_flags(app: Flask, username: str) -> dict[str, bool]:
    with app.app_context():
        rows = db.session.execute(sa.select(Notification.title, Notification.read_at).join(User)
                                  .where(User.username == username)).all()
        return {title: read_at is not None for title, read_at in rows}


def bell(html: str) -> str | None:
    found = re.search(r'data-unread="(\d+)"', html)
    return found.group(1) if found else None


# ----------------------------------------------------------------------------- notify()

def test_notify_writes_one_row_per_distinct_active_user(app, people):
    with app.app_context(), write_transaction():
        reviewer = db.session.scalar(sa.select(User).where(User.username == "reviewer"))
        leader = db.session.scalar(sa.select(User).where(User.username == "leader"))
        leader.active = False
        rows = notify([reviewer, reviewer, leader], "计划待审核")
        assert [r.user_id for r in rows] == [reviewer.id]


# ----------------------------------------------------------------------------- the bell and the page

def test_the_bell_counts_only_the_users_unread_notifications(app, people, login):
    client = login("reviewer")
    assert bell(client.get("/inbox").get_data(as_text=True)) is None          # nothing unread: no badge
    for i in range(3):
        notify_user(app, "reviewer", f"通知{i}")
    notify_user(app, "manager", "别人的通知")
    assert bell(client.get("/inbox").get_data(as_text=True)) == "3"
    assert bell(client.get("/plans/").get_data(as_text=True)) == "3"           # on every page with the navbar
    login("manager")
    assert bell(client.get("/inbox").get_data(as_text=True)) == "1"


def test_the_page_lists_newest_first_and_highlights_unread(app, people, login):
    notify_user(app, "reviewer", "较早的通知", body="第一条")
    notify_user(app, "reviewer", "最新的通知", body="第二条")
    notify_user(app, "manager", "别人的通知")
    client = login("reviewer")
    html = client.get("/notifications").get_data(as_text=True)
    assert html.index("最新的通知") < html.index("较早的通知")
    assert "别人的通知" not in html
    assert html.count("notification-unread") == 2


def test_opening_a_notification_marks_it_read_and_follows_its_link(app, people, login):
    nid = notify_user(app, "reviewer", "请审核计划", link="/plans/")
    client = login("reviewer")
    assert client.get("/notifications").status_code == 200
    assert read_flags(app, "reviewer") == {"请审核计划": False}                 # reading the list is not opening
    opened = client.post(f"/notifications/{nid}/open")
    assert opened.status_code == 302 and opened.headers["Location"] == "/plans/"
    assert read_flags(app, "reviewer") == {"请审核计划": True}
    assert bell(client.get("/inbox").get_data(as_text=True)) is None


def test_a_notification_never_leads_off_site(app, people, login):
    for link in ("https://evil.example/", "//evil.example/", "/\\evil.example/", ""):
        nid = notify_user(app, "reviewer", f"链接 {link}", link=link)
        client = login("reviewer")
        opened = client.post(f"/notifications/{nid}/open")
        assert opened.status_code == 302 and opened.headers["Location"] == "/notifications", link


def test_mark_all_read_from_the_page(app, people, login):
    for title in ("甲", "乙"):
        notify_user(app, "reviewer", title)
    notify_user(app, "manager", "丙")
    client = login("reviewer")
    done = client.post("/notifications/read", follow_redirects=True)
    assert "已将 2 条通知标为已读" in done.get_data(as_text=True)
    assert read_flags(app, "reviewer") == {"甲": True, "乙": True}
    assert read_flags(app, "manager") == {"丙": False}


def test_the_page_pages_back_to_older_notifications(app, people, login):
    ids = [notify_user(app, "reviewer", f"第{i:02d}条") for i in range(55)]
    client = login("reviewer")
    first = client.get("/notifications").get_data(as_text=True)
    assert "第54条" in first and "第05条" in first and "第04条" not in first
    older = client.get(f"/notifications?before={ids[5]}").get_data(as_text=True)
    assert "第04条" in older and "第00条" in older and "第05条" not in older


# ----------------------------------------------------------------------------- API

def test_api_lists_the_users_notifications_in_the_documented_shape(app, people, api_as):
    first = notify_user(app, "reviewer", "请审核计划", link="/instances/3", body="王考核提交了计划")
    second = notify_user(app, "reviewer", "计划已发布")
    notify_user(app, "manager", "别人的通知")
    api = api_as("reviewer")
    listed = api.get("/notifications")
    assert listed.status_code == 200 and listed.json["unread"] == 2
    assert [i["id"] for i in listed.json["items"]] == [second, first]
    item = listed.json["items"][1]
    assert {"id", "title", "body", "link", "created_at", "read"} <= set(item)
    assert (item["title"], item["body"], item["link"], item["read"]) == ("请审核计划", "王考核提交了计划",
                                                                         "/instances/3", False)
    assert api.post("/notifications/read", {"ids": [first]}).json == {"marked": 1, "unread": 1}
    assert [i["id"] for i in api.get("/notifications?unread=1").json["items"]] == [second]
    assert api.get("/notifications").json["items"][1]["read"] is True


def test_api_mark_read_without_ids_marks_all_and_never_anyone_elses(app, people, api_as):
    notify_user(app, "reviewer", "甲")
    theirs = notify_user(app, "manager", "乙")
    api = api_as("reviewer")
    assert api.post("/notifications/read", {"ids": [theirs]}).json == {"marked": 0, "unread": 1}
    marked = api.client.post("/api/v1/notifications/read", headers=api.headers)   # no body at all
    assert marked.json == {"marked": 1, "unread": 0}
    assert read_flags(app, "manager") == {"乙": False}


def test_api_refuses_malformed_input(people, api_as):
    api = api_as("reviewer")
    for body in ({"ids": "all"}, {"ids": [1, "2"]}, [1, 2]):
        refused = api.post("/notifications/read", body)
        assert refused.status_code == 422 and refused.json["errors"], body
    assert api.get("/notifications?limit=0").status_code == 422


# ----------------------------------------------------------------------------- e-mail addresses

def test_an_admin_sets_and_clears_a_users_email_on_the_page(app, people, login):
    reviewer = people["reviewer"].id
    client = login("admin")
    form = {"name": "李审核", "roles": ["reviewer"], "unit": "KHB", "active": "1"}
    refused = client.post(f"/admin/users/{reviewer}", data={**form, "email": "li@@example"})
    assert refused.status_code == 422 and "电子邮件地址格式不正确" in refused.get_data(as_text=True)
    saved = client.post(f"/admin/users/{reviewer}", data={**form, "email": " li@Example.GOV.cn "})
    assert saved.status_code == 302
    with app.app_context():
        assert db.session.get(User, reviewer).email == "li@example.gov.cn"
    assert "li@example.gov.cn" in client.get("/admin/users").get_data(as_text=True)
    client.post(f"/admin/users/{reviewer}", data={**form, "email": ""})
    with app.app_context():
        assert db.session.get(User, reviewer).email is None


def test_an_admin_adds_a_user_with_an_email(app, people, login):
    client = login("admin")
    form = {"username": "zhang", "name": "张三", "password": PASSWORD, "roles": ["evaluator"], "unit": "KHB"}
    refused = client.post("/admin/users", data={**form, "email": "张三@例子"})
    assert refused.status_code == 422 and "电子邮件地址格式不正确" in refused.get_data(as_text=True)
    assert client.post("/admin/users", data={**form, "email": "zhang@example.gov.cn"}).status_code == 302
    with app.app_context():
        assert db.session.scalar(sa.select(User.email).where(User.username == "zhang")) == "zhang@example.gov.cn"


def test_cli_creates_a_user_with_an_email_and_sets_one_later(app, make_unit: Callable[..., object]):
    make_unit("KHB", "office")
    runner = app.test_cli_runner()
    bad = runner.invoke(args=["users", "create", "zhang", "--name", "张三", "--role", "reviewer", "--unit", "KHB",
                              "--email", "not-an-address", "--password-stdin"], input=PASSWORD + "\n")
    assert bad.exit_code != 0 and "email" in bad.output
    made = runner.invoke(args=["users", "create", "zhang", "--name", "张三", "--role", "reviewer", "--unit", "KHB",
                               "--email", "zhang@example.gov.cn", "--password-stdin"], input=PASSWORD + "\n")
    assert made.exit_code == 0, made.output
    changed = runner.invoke(args=["users", "set-email", "zhang", "zhang.san@example.gov.cn"])
    assert changed.exit_code == 0 and "zhang.san@example.gov.cn" in changed.output
    assert runner.invoke(args=["users", "set-email", "ghost", "a@example.gov.cn"]).exit_code != 0
    assert runner.invoke(args=["users", "set-email", "zhang", "bad@"]).exit_code != 0
    with app.app_context():
        assert db.session.scalar(sa.select(User.email).where(User.username == "zhang")) == "zhang.san@example.gov.cn"
