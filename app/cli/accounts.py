"""``flask units create`` and ``flask users create``."""
from __future__ import annotations

import sys

import click
import sqlalchemy as sa
from flask.cli import AppGroup

from app.database import write_transaction
from app.extensions import db
from app.models import Role, UnitKind, User
from app.services import accounts
from app.services.errors import Invalid

units_group = AppGroup("units", help="Manage units (单位).")
users_group = AppGroup("users", help="Manage users (用户).")


def _fail(exc: Invalid) -> click.ClickException:
    details = "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.errors.items())
    return click.ClickException(f"{exc.message}: {details}")


@units_group.command("create")
@click.argument("code")
@click.option("--name", required=True)
@click.option("--kind", required=True, type=click.Choice([k.value for k in UnitKind]))
def create_unit(code: str, name: str, kind: str) -> None:
    try:
        with write_transaction():
            unit = accounts.create_unit(code, name, kind)
    except Invalid as exc:
        raise _fail(exc) from None
    click.echo(f"unit {unit.code} created")


@users_group.command("create")
@click.argument("username")
@click.option("--name", required=True)
@click.option("--role", "roles", multiple=True, required=True, type=click.Choice([r.value for r in Role]))
@click.option("--unit", "unit_code", default=None, help="unit code")
@click.option("--email", default=None, help="e-mail address for notifications")
@click.option("--password-stdin", is_flag=True, help="read the password from standard input")
def create_user(username: str, name: str, roles: tuple[str, ...], unit_code: str | None, email: str | None,
                password_stdin: bool) -> None:
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        with write_transaction():
            user = accounts.create_user(username, name, password, list(roles), unit_code, email=email)
    except Invalid as exc:
        raise _fail(exc) from None
    click.echo(f"user {user.username} created")


@users_group.command("set-email")
@click.argument("username")
@click.argument("email")
def set_email(username: str, email: str) -> None:
    """Set a user's e-mail address for notifications ("" removes it)."""
    try:
        with write_transaction():
            user = db.session.scalar(sa.select(User).where(User.username == username))
            if user is None:
                raise click.ClickException(f"no user {username}")
            accounts.set_email(user, email)
    except Invalid as exc:
        raise _fail(exc) from None
    click.echo(f"user {username}: e-mail {user.email or '(none)'}")
