"""Notification e-mail, sent by the worker over SMTP to a real local server (aiosmtpd) the tests start."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from flask import Flask

from app.database import write_transaction
from app.extensions import db
from app.models import Notification, Role, User
from app.services import accounts, mail
from app.services.notifications import notify
from tests.conftest import PROJECT
from tests.smtp_server import SmtpServer
from tests.test_serve import free_port

BASE_URL = "https://kaohe.example.gov.cn"
T0 = datetime(2026, 9, 28, 2, 0, tzinfo=UTC)


@pytest.fixture
def smtp(app: Flask, monkeypatch: pytest.MonkeyPatch) -> Iterator[SmtpServer]:
    server = SmtpServer()
    port = server.start()
    for key, value in {"MAIL_SERVER": "127.0.0.1", "MAIL_PORT": port, "BASE_URL": BASE_URL,
                       "MAIL_FROM": "政务服务运维考核 <govassure@example.gov.cn>"}.items():
        monkeypatch.setitem(app.config, key, value)
    yield server
    server.stop()


@pytest.fixture
def person(app: Flask, make_user: Callable[..., User]) -> Callable[..., int]:
    """A user with (or without) an e-mail address; returns the user's id."""
    def _make(username: str, name: str, email: str | None) -> int:
        user = make_user(username, Role.REVIEWER, name=name)
        with app.app_context(), write_transaction():
            row = db.session.get(User, user.id)
            assert row is not None
            if email:
                accounts.set_email(row, email)
        return user.id
    return _make


def send(app: Flask, user_ids: list[int], title: str = "请审核《2027年度运维考核计划》",
         body: str = "王考核提交了计划，请在 15 个工作日内审核。", link: str = "/instances/7") -> list[int]:
    with app.app_context(), write_transaction():
        users = [db.session.get(User, i) for i in user_ids]
        rows = notify([u for u in users if u is not None], title, body, link)
        db.session.flush()
        return [r.id for r in rows]


def sweep(app: Flask) -> int:
    with app.app_context():
        return mail.sweep()


def state(app: Flask, notification_id: int) -> tuple[str | None, str | None, datetime | None]:
    with app.app_context():
        row = db.session.get(Notification, notification_id)
        assert row is not None
        return row.email_status, row.email_error, row.emailed_at


# ----------------------------------------------------------------------------- delivery

def test_a_notification_arrives_with_its_chinese_subject_and_body_and_an_absolute_link(app, smtp, person):
    li = person("li", "李审核", "Li.Shen@Example.gov.cn")
    [nid] = send(app, [li])
    assert state(app, nid)[0] == "pending"

    assert sweep(app) == 1
    [received] = smtp.received
    message = received.message
    assert received.recipients == ["Li.Shen@example.gov.cn"]          # the domain normalised when saved
    assert message["Subject"] == "请审核《2027年度运维考核计划》"
    assert message["To"].addresses[0].display_name == "李审核"
    assert message["From"].addresses[0].display_name == "政务服务运维考核"
    assert "王考核提交了计划，请在 15 个工作日内审核。" in received.text
    assert f"{BASE_URL}/instances/7" in received.text
    assert message.get_content_charset() == "utf-8"
    assert received.raw.split(b"\r\n\r\n", 1)[0].isascii()           # headers travel RFC 2047-encoded
    status, error, emailed_at = state(app, nid)
    assert status == "sent" and error is None and emailed_at is not None

    assert sweep(app) == 0 and len(smtp.received) == 1               # sent once, never again


def test_base_url_with_a_path_prefix_keeps_it(app, smtp, person, monkeypatch):
    monkeypatch.setitem(app.config, "BASE_URL", "https://portal.example.gov.cn/kaohe/")
    send(app, [person("li", "李审核", "li@example.gov.cn")], link="/notifications")
    sweep(app)
    assert "https://portal.example.gov.cn/kaohe/notifications" in smtp.received[0].text


def test_the_smtp_login_is_used_when_configured(app, person, monkeypatch):
    server = SmtpServer()
    port = server.start(auth=True)
    try:
        for key, value in {"MAIL_SERVER": "127.0.0.1", "MAIL_PORT": port, "MAIL_USERNAME": "govassure",
                           "MAIL_PASSWORD": "s3cret-pass"}.items():
            monkeypatch.setitem(app.config, key, value)
        send(app, [person("li", "李审核", "li@example.gov.cn")])
        assert sweep(app) == 1
        assert server.logins == [("govassure", "s3cret-pass")] and len(server.received) == 1
    finally:
        server.stop()


def test_no_address_or_no_mail_server_queues_no_email(app, smtp, person, monkeypatch):
    [without] = send(app, [person("zhao", "赵主任", None)])
    assert state(app, without)[0] is None
    monkeypatch.setitem(app.config, "MAIL_SERVER", None)              # mail off: nothing queued, nothing sent
    [off] = send(app, [person("li", "李审核", "li@example.gov.cn")])
    assert state(app, off)[0] is None
    assert sweep(app) == 0
    monkeypatch.setitem(app.config, "MAIL_SERVER", "127.0.0.1")
    assert sweep(app) == 0 and smtp.received == []


def test_mail_enabled_false_switches_mail_off_with_a_server_configured(app, smtp, person, monkeypatch):
    monkeypatch.setitem(app.config, "MAIL_ENABLED", False)
    [nid] = send(app, [person("li", "李审核", "li@example.gov.cn")])
    assert state(app, nid)[0] is None and sweep(app) == 0 and smtp.received == []


def test_an_address_removed_before_sending_is_skipped(app, smtp, person):
    li = person("li", "李审核", "li@example.gov.cn")
    [nid] = send(app, [li])
    with app.app_context(), write_transaction():
        user = db.session.get(User, li)
        assert user is not None
        accounts.set_email(user, "")
    assert sweep(app) == 0 and smtp.received == []
    status, error, _ = state(app, nid)
    assert status is None and error is not None and "电子邮件" in error


# ----------------------------------------------------------------------------- failures and retries

def test_a_refused_recipient_is_retried_a_bounded_number_of_times_and_others_still_get_theirs(app, smtp, person):
    li, wang = person("li", "李审核", "li@example.gov.cn"), person("wang", "王考核", "wang@example.gov.cn")
    smtp.refuse.add("li@example.gov.cn")
    with time_machine.travel(T0, tick=False) as clock:
        refused, delivered = send(app, [li, wang])
        assert sweep(app) == 1
        assert [r.recipients for r in smtp.received] == [["wang@example.gov.cn"]]
        status, error, _ = state(app, refused)
        assert status == "retry:1" and error is not None and "550" in error
        assert state(app, delivered)[0] == "sent"

        clock.shift(timedelta(minutes=5))                                  # too early for the next attempt
        sweep(app)
        assert state(app, refused)[0] == "retry:1"
        clock.shift(timedelta(minutes=6))                                  # 11 minutes after the first
        sweep(app)
        assert state(app, refused)[0] == "retry:2"
        clock.shift(timedelta(minutes=11))
        sweep(app)
        status, error, _ = state(app, refused)
        assert status == "failed" and error is not None and "550" in error    # MAIL_MAX_ATTEMPTS = 3

        smtp.refuse.clear()                                                 # given up: never sent later
        clock.shift(timedelta(hours=2))
        assert sweep(app) == 0
    assert len(smtp.received) == 1


def test_an_unreachable_server_fails_the_attempt_and_the_mail_goes_once_it_is_back(app, smtp, person, monkeypatch):
    monkeypatch.setitem(app.config, "MAIL_PORT", free_port())             # nothing listens there
    with time_machine.travel(T0, tick=False) as clock:
        [nid] = send(app, [person("li", "李审核", "li@example.gov.cn")])
        assert sweep(app) == 0
        status, error, _ = state(app, nid)
        assert status == "retry:1" and error is not None and "Connection" in error
        monkeypatch.setitem(app.config, "MAIL_PORT", smtp.port)
        clock.shift(timedelta(minutes=10))
        assert sweep(app) == 1
    assert state(app, nid)[0] == "sent" and len(smtp.received) == 1


def test_a_claim_abandoned_by_a_dead_worker_is_sent_after_the_claim_timeout(app, smtp, person):
    with time_machine.travel(T0, tick=False) as clock:
        [nid] = send(app, [person("li", "李审核", "li@example.gov.cn")])
        with app.app_context(), write_transaction():                       # claimed, then the worker died
            assert mail.claim(T0, 10) == ([(nid, 1)], 1)
        assert sweep(app) == 0 and state(app, nid)[0] == "sending:1"
        clock.shift(timedelta(minutes=31))
        assert sweep(app) == 1
    assert state(app, nid)[0] == "sent" and len(smtp.received) == 1


def test_two_workers_sweeping_at_once_send_every_message_exactly_once(app, smtp, person, monkeypatch):
    monkeypatch.setitem(app.config, "MAIL_BATCH_SIZE", 3)
    users = [person(f"u{i}", f"用户{i}", f"u{i}@example.gov.cn") for i in range(8)]
    ids = send(app, users) + send(app, users, title="第二批通知")
    start = threading.Barrier(2)
    counts: list[int] = []

    def worker() -> None:
        start.wait()
        counts.append(sweep(app))

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    sent_for = [re.search(r"notification-(\d+)@", r.message["Message-ID"]) for r in smtp.received]
    assert len(smtp.received) == len(ids) == 16 and sum(counts) == 16
    assert sorted(int(m.group(1)) for m in sent_for if m) == sorted(ids)   # each notification once


# ----------------------------------------------------------------------------- through the real worker

def test_beat_schedules_the_mail_sweep(app):
    schedule = app.extensions["celery"].conf.beat_schedule
    assert schedule["send-pending-emails"]["task"] == "app.tasks.send_pending_emails"
    assert schedule["send-pending-emails"]["schedule"] == app.config["MAIL_SWEEP_SECONDS"]


def test_the_background_worker_sends_pending_mail_on_its_own(app, smtp, person, tmp_path):
    [nid] = send(app, [person("li", "李审核", "li@example.gov.cn")])
    instance = tmp_path / "instance"
    for folder in ("broker/queue", "broker/control"):
        (instance / folder).mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    env.update({"APP_INSTANCE_PATH": str(instance), "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
                "GOVASSURE_MAIL_SERVER": "127.0.0.1", "GOVASSURE_MAIL_PORT": str(smtp.port),
                "GOVASSURE_BASE_URL": BASE_URL, "GOVASSURE_MAIL_SWEEP_SECONDS": "1.0"})
    worker = subprocess.Popen([sys.executable, "-m", "celery", "-A", "wsgi.celery_app", "worker", "-B",
                               "--pool=threads", "--concurrency=2", "--loglevel=WARNING",
                               "--schedule", str(instance / "celerybeat-schedule")],
                              cwd=PROJECT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while not smtp.received and time.monotonic() < deadline and worker.poll() is None:
            time.sleep(0.2)    # polling a real process: the worker starts, then beat ticks every second
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            output, _ = worker.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            output, _ = worker.communicate()
    assert len(smtp.received) == 1, output[-3000:]
    assert smtp.received[0].message["Subject"] == "请审核《2027年度运维考核计划》"
    assert f"{BASE_URL}/instances/7" in smtp.received[0].text
    assert state(app, nid)[0] == "sent"

