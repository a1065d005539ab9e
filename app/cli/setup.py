"""``flask init`` (idempotent set-up of instance/) and ``flask serve`` (web + worker + scheduler)."""
from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from flask import current_app
from flask.cli import with_appcontext
from flask_migrate import upgrade

from app.services import secrets as secrets_box

CONFIG_TEMPLATE = """\
# Written by `flask --app wsgi init`. Secrets live here and nowhere else; keep this file private.
SECRET_KEY = {secret!r}
# DATABASE_URL in the environment overrides the SQLite default, e.g.
# SQLALCHEMY_DATABASE_URI = "postgresql+psycopg://user@host/govassure"
# The address users open the site at (links in e-mails): BASE_URL = "https://kaohe.example.gov.cn"
# Outgoing mail (notifications); no MAIL_SERVER means no e-mail:
# MAIL_SERVER = "smtp.example.gov.cn"; MAIL_PORT = 587; MAIL_USE_TLS = True
# MAIL_USERNAME = "govassure"; MAIL_PASSWORD = "…"; MAIL_FROM = "政务服务运维考核 <govassure@example.gov.cn>"
"""


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def ensure_config(instance: Path) -> bool:
    config = instance / "config.py"
    if config.exists():
        return False
    _write_private(config, CONFIG_TEMPLATE.format(secret=secrets.token_hex(32)).encode())
    return True


def ensure_signing_identity(key_path: Path, cert_path: Path) -> bool:
    """The system's signing key and a self-signed certificate (a real CA's replaces it in production)."""
    if key_path.exists() and cert_path.exists():
        return False
    key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    name = x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "GovAssure"),
        x509.NameAttribute(NameOID.COMMON_NAME, "GovAssure 系统签章（自签名）"),
    ])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=True, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                     crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        .sign(key, hashes.SHA256())
    )
    _write_private(key_path, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return True


@click.command("init")
@with_appcontext
def init_command() -> None:
    """Create instance/ (secret key, signing key and certificate) and migrate the database to head."""
    instance = Path(current_app.instance_path)
    instance.mkdir(parents=True, exist_ok=True)
    click.echo(("created " if ensure_config(instance) else "kept    ") + str(instance / "config.py"))
    made = ensure_signing_identity(Path(current_app.config["SIGNING_KEY_PATH"]),
                                   Path(current_app.config["SIGNING_CERT_PATH"]))
    click.echo(("created " if made else "kept    ") + str(current_app.config["SIGNING_CERT_PATH"]))
    key_path = Path(current_app.config["FERNET_KEY_PATH"])   # encrypts data-source auth headers
    click.echo(("created " if secrets_box.ensure_key(key_path) else "kept    ") + str(key_path))
    for folder in ("broker/queue", "broker/control"):
        (instance / folder).mkdir(parents=True, exist_ok=True)
    from app.cli.signing import require_cjk_font
    click.echo("CJK fonts: " + ", ".join(require_cjk_font()))
    upgrade()
    click.echo("database at head: " + current_app.config["SQLALCHEMY_DATABASE_URI"].split("@")[-1])


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--web-workers", default=2, show_default=True, type=int)
@click.option("--task-threads", default=4, show_default=True, type=int)
@with_appcontext
def serve_command(host: str, port: int, web_workers: int, task_threads: int) -> None:
    """Run the web app (gunicorn) and the background worker with its scheduler (celery -B) together."""
    if not current_app.config.get("SECRET_KEY"):
        raise click.ClickException("instance/config.py has no SECRET_KEY: run `flask --app wsgi init` first")
    from app.cli.signing import require_cjk_font
    require_cjk_font()   # documents without a CJK font would be all tofu boxes: refuse to start
    py = sys.executable
    children = {
        "worker": subprocess.Popen([  # noqa: S603  (our own interpreter, fixed arguments)
            py, "-m", "celery", "-A", "wsgi.celery_app", "worker", "-B",
                                    "--pool=threads", f"--concurrency={task_threads}", "--loglevel=WARNING",
                                    "--schedule", str(Path(current_app.instance_path) / "celerybeat-schedule")]),
        "web": subprocess.Popen([  # noqa: S603
            py, "-m", "gunicorn", "-w", str(web_workers), "--threads", "4",
                                 "-b", f"{host}:{port}", "--access-logfile", "-", "wsgi:app"]),
    }
    click.echo(f"GovAssure on http://{host}:{port}  (web + worker + scheduler; Ctrl-C stops both)")
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    rc = 0
    while not stopping:
        for name, proc in children.items():
            if proc.poll() is not None:
                click.echo(f"serve: {name} exited with {proc.returncode}; stopping", err=True)
                rc, stopping = proc.returncode or 1, True
        time.sleep(0.5)
    for proc in children.values():
        if proc.poll() is None:
            proc.terminate()
    for proc in children.values():
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
    sys.exit(rc)
