"""Configuration: defaults here, secrets in ``instance/config.py``, overrides from the environment."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def instance_path() -> Path:
    return Path(os.environ.get("APP_INSTANCE_PATH", PROJECT_ROOT / "instance")).resolve()


def defaults(instance: Path) -> dict[str, Any]:
    database_url = os.environ.get("DATABASE_URL") or f"sqlite:///{instance / 'govassure.db'}"
    return {
        "SECRET_KEY": None,  # set by `flask init` in instance/config.py
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        "BPMN_DIR": PROJECT_ROOT / "bpmn",
        "FORMS_DIR": PROJECT_ROOT / "forms",
        "REPORTS_DIR": PROJECT_ROOT / "reports",
        "BABEL_DEFAULT_LOCALE": "zh_CN",
        "BABEL_DEFAULT_TIMEZONE": "Asia/Shanghai",
        "LANGUAGES": ["zh_CN", "en"],
        "MAX_CONTENT_LENGTH": 20 * 1024 * 1024,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "WTF_CSRF_TIME_LIMIT": None,  # tied to the session; a long review must not lose its form
        "API_TOKEN_HOURS": 12,
        "LOGIN_MAX_FAILURES": 5,        # per username within the window
        "LOGIN_MAX_FAILURES_IP": 30,    # per client address within the window
        "LOGIN_WINDOW_MINUTES": 15,
        "INBOX_PAGE_SIZE": 20,
        "SIGNING_KEY_PATH": instance / "signing" / "system-key.pem",
        "SIGNING_CERT_PATH": instance / "signing" / "system-cert.pem",
        "CELERY": celery_defaults(instance),
        "TIMER_SWEEP_SECONDS": 5.0,
        "CHASE_ESCALATE_AFTER_HOURS": 48.0,   # an overdue task still open this long after being chased goes to leaders
        # An overdue rectification notice is reported to leaders this many working days after its deadline.
        "RECTIFICATION_ESCALATE_WORKING_DAYS": 3,
        # Automatic collection (app/services/collection.py)
        "FERNET_KEY_PATH": instance / "secrets" / "fernet.key",   # encrypts data-source auth headers
        "COLLECT_SWEEP_SECONDS": 60.0,                             # how often beat looks for due sources
        "COLLECT_MAX_BYTES": 10 * 1024 * 1024,                     # a larger response fails the run
        "COLLECT_MAX_RECORDS": 100_000,
        "COLLECT_FILES_DIR": instance / "datasources",             # uploaded CSV files, by SHA-256
        # Links in e-mails are made absolute with this: the address users open the site at
        "BASE_URL": "http://127.0.0.1:5000",
        # Notification e-mail (app/services/mail.py): off until MAIL_SERVER is set
        "MAIL_ENABLED": True,
        "MAIL_SERVER": None,
        "MAIL_PORT": 25,
        "MAIL_USE_TLS": False,          # STARTTLS on MAIL_PORT (typically 587)
        "MAIL_USE_SSL": False,          # TLS from the start (typically 465)
        "MAIL_USERNAME": None,
        "MAIL_PASSWORD": None,
        "MAIL_FROM": "GovAssure <govassure@localhost>",
        "MAIL_TIMEOUT": 30.0,           # seconds per SMTP operation
        "MAIL_SWEEP_SECONDS": 30.0,     # how often beat sends what is pending
        "MAIL_BATCH_SIZE": 20,          # messages claimed (and sent over one connection) at a time
        "MAIL_MAX_ATTEMPTS": 3,         # then the row is marked failed with the last error
        "MAIL_RETRY_MINUTES": 10,       # wait between attempts
        "MAIL_CLAIM_MINUTES": 30,       # a claim never reported back after this counts as a failed attempt
        # Signed documents (app/services/documents.py)
        "ARCHIVE_DIR": instance / "archive",                        # archived PDFs, <sha256>.pdf, read-only
        "PARTY_CERTS_DIR": instance / "signing" / "parties",        # <unit code>/{key,cert,chain*}.pem
        "TRUST_DIR": instance / "signing" / "trust",                # extra CA certificates trusted on verify
        "PUBLIC_URL": "http://127.0.0.1:5000",                      # printed in verification QR codes
        "SIGNING_LOCATION": "长沙",
        "VERIFY_MAX_BYTES": 10 * 1024 * 1024,
        "DOCUMENTS_RENDER_INLINE": False,                           # tests: render in the request's thread
        # A change order above either threshold needs a leader's approval (MISSION B5).
        "CHANGE_LEADER_PERCENT": "10",
        "CHANGE_LEADER_AMOUNT": "500000",
    }


def celery_defaults(instance: Path) -> dict[str, Any]:
    """Redis when REDIS_URL is set (scale-out); otherwise the filesystem transport, no server needed."""
    redis_url = os.environ.get("REDIS_URL")
    if redis_url:
        return {"broker_url": redis_url, "result_backend": redis_url, "task_ignore_result": True}
    queue = instance / "broker" / "queue"
    return {
        "broker_url": "filesystem://",
        "broker_transport_options": {
            "data_folder_in": str(queue), "data_folder_out": str(queue),
            "control_folder": str(instance / "broker" / "control"),
            "store_processed": False, "polling_interval": 0.5,
        },
        "task_ignore_result": True,
        "broker_connection_retry_on_startup": True,
    }
