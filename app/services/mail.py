"""E-mail for notifications, sent by the background worker over SMTP (smtplib, stdlib).

A notification's ``email_status`` moves through::

    None                       no e-mail: the user has no address, or mail is off (no MAIL_SERVER)
    pending                    queued by notify(), waiting for its first attempt
    sending:<n>                claimed by a worker for attempt n (emailed_at = when claimed)
    retry:<n>                  attempt n failed; tried again MAIL_RETRY_MINUTES after it
    sent | failed              done; failed after MAIL_MAX_ATTEMPTS attempts (email_error says why)

Claiming is one short transaction (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, the write lock on
SQLite) that moves rows to ``sending:<n>``, so two workers never take the same row; the SMTP
conversation then runs outside any transaction. A worker that dies between claiming and recording
leaves ``sending:<n>``: after MAIL_CLAIM_MINUTES that counts as a failed attempt and the row is
tried again — the one case in which a message may arrive twice (at least once beats never).
"""
from __future__ import annotations

import logging
import smtplib
import ssl
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from urllib.parse import urljoin

import sqlalchemy as sa
from email_validator import EmailNotValidError, validate_email
from flask import current_app
from sqlalchemy.orm import joinedload

from app.database import is_postgres, write_transaction
from app.extensions import db
from app.models import Notification, User
from app.models.base import utcnow

log = logging.getLogger(__name__)

PENDING, SENT, FAILED = "pending", "sent", "failed"
MAX_ERROR = 1000


def normalize_address(raw: str) -> str:
    """A deliverable-looking address in its normal form; ValueError with a Chinese message otherwise.

    Only the syntax is checked (no DNS look-up: government mail hosts are often internal), and only
    ASCII addresses are accepted, which any SMTP server relays (no SMTPUTF8 needed).
    """
    try:
        return str(validate_email(raw.strip(), check_deliverability=False, allow_smtputf8=False).normalized)
    except EmailNotValidError:
        raise ValueError(f"电子邮件地址格式不正确：{raw.strip()}（应如 zhang@example.gov.cn，仅限英文字符）。") \
            from None


def enabled() -> bool:
    cfg = current_app.config
    return bool(cfg.get("MAIL_ENABLED", True) and cfg.get("MAIL_SERVER"))


def absolute_link(link: str) -> str:
    """Links are stored as site paths ("/instances/7"); a mail needs BASE_URL in front."""
    if not link or link.startswith(("http://", "https://")):
        return link
    base = str(current_app.config["BASE_URL"])
    return urljoin(base.rstrip("/") + "/", link.lstrip("/"))


def build_message(row: Notification, user: User, now: datetime) -> EmailMessage:
    cfg = current_app.config
    message = EmailMessage()   # policy.default: non-ASCII headers are RFC 2047 encoded, the body UTF-8
    message["Subject"] = row.title
    message["From"] = cfg["MAIL_FROM"]
    message["To"] = Address(display_name=user.name, addr_spec=user.email or "")
    message["Date"] = format_datetime(now)
    message["Message-ID"] = make_msgid(idstring=f"notification-{row.id}")
    parts = [row.title, row.body]
    if row.link:
        parts.append("打开：" + absolute_link(row.link))
    parts.append("—— 政务服务运维考核系统自动发送，请勿直接回复。")
    message.set_content("\n\n".join(p for p in parts if p), charset="utf-8")
    return message


def _attempt_statuses(prefix: str, upto: int) -> list[str]:
    return [f"{prefix}:{n}" for n in range(1, upto + 1)]


def _attempt_of(status: str | None) -> int:
    """How many attempts a row has had: 0 for pending, n for retry:n or sending:n."""
    _, _, n = (status or "").partition(":")
    return int(n) if n.isdigit() else 0


def claim(now: datetime, limit: int) -> tuple[list[tuple[int, int]], int]:
    """Take up to ``limit`` rows due for an attempt (inside the caller's write transaction):
    ``[(notification id, attempt number)]``, and how many rows were looked at."""
    cfg = current_app.config
    attempts = int(cfg["MAIL_MAX_ATTEMPTS"])
    status = Notification.email_status
    query = (sa.select(Notification).where(sa.or_(
        status == PENDING,
        sa.and_(status.in_(_attempt_statuses("retry", attempts - 1)),
                Notification.emailed_at <= now - timedelta(minutes=cfg["MAIL_RETRY_MINUTES"])),
        sa.and_(status.in_(_attempt_statuses("sending", attempts)),
                Notification.emailed_at <= now - timedelta(minutes=cfg["MAIL_CLAIM_MINUTES"])),
    )).order_by(Notification.id).limit(limit))
    if is_postgres():
        query = query.with_for_update(skip_locked=True)
    claimed = []
    rows = db.session.scalars(query.execution_options(populate_existing=True)).all()
    for row in rows:
        attempt = _attempt_of(row.email_status) + 1
        if attempt > attempts:   # a last attempt whose worker never reported back
            row.email_status = FAILED
            row.email_error = "发送进程中断，已达最大尝试次数"
            continue
        row.email_status, row.emailed_at = f"sending:{attempt}", now
        claimed.append((row.id, attempt))
    db.session.flush()
    return claimed, len(rows)


@dataclass
class Outcome:
    notification_id: int
    attempt: int
    error: str | None = None        # None: sent
    skipped: bool = False           # the address went away (or the user was deactivated) meanwhile


def _connect() -> smtplib.SMTP:
    cfg = current_app.config
    host, port, timeout = cfg["MAIL_SERVER"], int(cfg["MAIL_PORT"]), float(cfg["MAIL_TIMEOUT"])
    context = ssl.create_default_context()
    smtp: smtplib.SMTP
    if cfg.get("MAIL_USE_SSL"):
        smtp = smtplib.SMTP_SSL(host, port, timeout=timeout, context=context)
    else:
        smtp = smtplib.SMTP(host, port, timeout=timeout)
        if cfg.get("MAIL_USE_TLS"):
            smtp.starttls(context=context)
    if cfg.get("MAIL_USERNAME"):
        smtp.login(cfg["MAIL_USERNAME"], cfg.get("MAIL_PASSWORD") or "")
    return smtp


def _describe(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"[:MAX_ERROR]


def deliver(claimed: list[tuple[int, int]], now: datetime) -> list[Outcome]:
    """Send the claimed rows over one SMTP connection; nothing here writes to the database."""
    rows = {r.id: r for r in db.session.scalars(
        sa.select(Notification).where(Notification.id.in_([i for i, _ in claimed]))
        .options(joinedload(Notification.user)))}
    work: list[tuple[Outcome, EmailMessage | None]] = []
    for notification_id, attempt in claimed:
        row = rows[notification_id]
        wanted = bool(row.user.email and row.user.active)
        work.append((Outcome(notification_id, attempt, skipped=not wanted),
                     build_message(row, row.user, now) if wanted else None))
    db.session.rollback()   # no transaction stays open during the slow SMTP conversation
    smtp: smtplib.SMTP | None = None
    try:
        for outcome, message in work:
            if message is None:
                continue
            try:
                smtp = smtp or _connect()
                smtp.send_message(message)
            except Exception as exc:   # noqa: BLE001  (whatever fails, the attempt is recorded, not left claimed)
                outcome.error = _describe(exc)
                if not isinstance(exc, smtplib.SMTPResponseException) and smtp is not None:
                    smtp.close()   # a dropped connection: the next message opens a new one
                    smtp = None
    finally:
        if smtp is not None:
            try:
                smtp.quit()
            except (smtplib.SMTPException, OSError):
                smtp.close()
    return [outcome for outcome, _ in work]


def record(outcomes: list[Outcome], now: datetime) -> None:
    """Write the attempts' results (inside the caller's write transaction)."""
    attempts = int(current_app.config["MAIL_MAX_ATTEMPTS"])
    for outcome in outcomes:
        row = db.session.get(Notification, outcome.notification_id, populate_existing=True)
        # Someone else took it over as abandoned meanwhile: theirs is the record that counts.
        if row is None or row.email_status != f"sending:{outcome.attempt}":
            continue
        row.emailed_at = now
        if outcome.skipped:
            row.email_status, row.email_error = None, "发送前收件人已无电子邮件地址或已停用"
        elif outcome.error is None:
            row.email_status, row.email_error = SENT, None
        else:
            row.email_status = FAILED if outcome.attempt >= attempts else f"retry:{outcome.attempt}"
            row.email_error = outcome.error
    db.session.flush()


def sweep(now: datetime | None = None) -> int:
    """Send every e-mail due now, in batches; how many were sent. Nothing happens while mail is off
    (rows queued earlier keep waiting)."""
    if not enabled():
        return 0
    batch = int(current_app.config["MAIL_BATCH_SIZE"])
    sent = 0
    while True:
        started = now or utcnow()
        with write_transaction():
            claimed, looked_at = claim(started, batch)
        if not looked_at:
            return sent
        outcomes = deliver(claimed, started)
        with write_transaction():
            record(outcomes, now or utcnow())
        sent += sum(1 for o in outcomes if o.error is None and not o.skipped)
