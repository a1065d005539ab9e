"""Units, users, passwords, login throttling and API tokens."""
from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from datetime import timedelta

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app

from app.extensions import db
from app.models import ApiToken, LoginAttempt, Role, Unit, UnitKind, User, UserRole
from app.models.base import utcnow
from app.services import mail
from app.services.errors import Invalid, NotFound, Throttled

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
# Verified against when the username is unknown, so a miss costs as much time as a hit.
_DUMMY_HASH = _hasher.hash(secrets.token_hex(16))

MIN_PASSWORD_LENGTH = 8
FORMULA_PREFIXES = ("=", "+", "-", "@")  # what spreadsheets run as a formula: never the start of a code or name


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise Invalid("密码太短", {"password": [f"密码至少 {MIN_PASSWORD_LENGTH} 位。"]})
    return _hasher.hash(password)


def check_password(user: User | None, password: str) -> bool:
    try:
        ok: bool = _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return False
    if user is not None and ok and _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    return user is not None and ok


# ----------------------------------------------------------------------------- units

def create_unit(code: str, name: str, kind: str) -> Unit:
    code, name = code.strip(), name.strip()
    errors: dict[str, list[str]] = {}
    if not code:
        errors["code"] = ["编码不能为空。"]
    if not name:
        errors["name"] = ["名称不能为空。"]
    if kind not in {k.value for k in UnitKind}:
        errors["kind"] = [f"类型须为 {', '.join(k.value for k in UnitKind)} 之一。"]
    if code.startswith(FORMULA_PREFIXES) or name.startswith(FORMULA_PREFIXES):
        errors["name"] = ["编码和名称不能以 = + - @ 开头（电子表格会当作公式）。"]
    if code and db.session.scalar(sa.select(Unit.id).where(Unit.code == code)):
        errors["code"] = [f"编码 {code} 已存在。"]
    if errors:
        raise Invalid("单位信息有误", errors)
    unit = Unit(code=code, name=name, kind=kind)
    db.session.add(unit)
    db.session.flush()
    return unit


def update_unit(unit: Unit, name: str, kind: str, active: bool) -> Unit:
    if kind not in {k.value for k in UnitKind}:
        raise Invalid("单位信息有误", {"kind": ["未知的单位类型。"]})
    if not name.strip():
        raise Invalid("单位信息有误", {"name": ["名称不能为空。"]})
    unit.name, unit.kind, unit.active = name.strip(), kind, active
    db.session.flush()
    return unit


def unit_by_code(code: str) -> Unit:
    unit = db.session.scalar(sa.select(Unit).where(Unit.code == code))
    if unit is None:
        raise NotFound(f"单位 {code} 不存在")
    return unit


# ----------------------------------------------------------------------------- users

def _check_roles(roles: list[str]) -> dict[str, list[str]]:
    known = {r.value for r in Role}
    bad = [r for r in roles if r not in known]
    if bad:
        return {"roles": [f"未知角色：{', '.join(bad)}"]}
    if not roles:
        return {"roles": ["至少选择一个角色。"]}
    return {}


def _check_email(raw: str | None, errors: dict[str, list[str]]) -> str | None:
    """The normalised address, or None for none; a malformed one adds an error."""
    if not raw or not raw.strip():
        return None
    try:
        return mail.normalize_address(raw)
    except ValueError as exc:
        errors["email"] = [str(exc)]
        return None


def create_user(username: str, name: str, password: str, roles: list[str], unit_code: str | None,
                email: str | None = None) -> User:
    username, name = username.strip(), name.strip()
    errors = _check_roles(roles)
    address = _check_email(email, errors)
    if not username:
        errors["username"] = ["用户名不能为空。"]
    elif db.session.scalar(sa.select(User.id).where(User.username == username)):
        errors["username"] = [f"用户名 {username} 已存在。"]
    if not name:
        errors["name"] = ["姓名不能为空。"]
    unit = None
    if unit_code:
        unit = db.session.scalar(sa.select(Unit).where(Unit.code == unit_code))
        if unit is None:
            errors["unit"] = [f"单位 {unit_code} 不存在。"]
    if len(password) < MIN_PASSWORD_LENGTH:
        errors["password"] = [f"密码至少 {MIN_PASSWORD_LENGTH} 位。"]
    if errors:
        raise Invalid("用户信息有误", errors)
    user = User(username=username, name=name, password_hash=hash_password(password), unit=unit, email=address,
                role_rows=[UserRole(role=r) for r in sorted(set(roles))])
    db.session.add(user)
    db.session.flush()
    return user


def update_user(user: User, name: str, roles: list[str], unit_code: str | None, active: bool,
                password: str | None = None, actor: User | None = None, email: str | None = None) -> User:
    """``email``: None keeps the address, "" removes it, anything else replaces it."""
    errors = _check_roles(roles)
    address = _check_email(email, errors)
    if not name.strip():
        errors["name"] = ["姓名不能为空。"]
    unit = None
    if unit_code:
        unit = db.session.scalar(sa.select(Unit).where(Unit.code == unit_code))
        if unit is None:
            errors["unit"] = [f"单位 {unit_code} 不存在。"]
    if password and len(password) < MIN_PASSWORD_LENGTH:
        errors["password"] = [f"密码至少 {MIN_PASSWORD_LENGTH} 位。"]
    if errors:
        raise Invalid("用户信息有误", errors)
    user.name, user.unit, user.active = name.strip(), unit, active
    if email is not None:
        user.email = address
    wanted = set(roles)
    user.role_rows = [r for r in user.role_rows if r.role in wanted] + [
        UserRole(role=r) for r in sorted(wanted - user.roles)
    ]
    if password:
        user.password_hash = hash_password(password)
    db.session.flush()
    from app.services.tasks import release_lapsed_claims  # tasks imports the engine; only needed here
    release_lapsed_claims(user, actor)
    return user


def set_email(user: User, email: str) -> User:
    """Set (or with "" remove) a user's e-mail address."""
    errors: dict[str, list[str]] = {}
    address = _check_email(email, errors)
    if errors:
        raise Invalid("电子邮件地址有误", errors)
    user.email = address
    db.session.flush()
    return user


# ----------------------------------------------------------------------------- login

def _throttled(username: str, ip: str) -> bool:
    """Too many failures within the window: for this username since its last successful login,
    or from this address."""
    cfg = current_app.config
    since = utcnow() - timedelta(minutes=cfg["LOGIN_WINDOW_MINUTES"])
    last_success = db.session.scalar(sa.select(sa.func.max(LoginAttempt.at)).where(
        LoginAttempt.username == username, LoginAttempt.success.is_(True), LoginAttempt.at >= since))
    failures = sa.select(sa.func.count()).select_from(LoginAttempt).where(
        LoginAttempt.at >= since, LoginAttempt.success.is_(False)
    )
    name_failures = failures.where(LoginAttempt.username == username)
    if last_success is not None:
        name_failures = name_failures.where(LoginAttempt.at > last_success)
    by_name = db.session.scalar(name_failures) or 0
    by_ip = db.session.scalar(failures.where(LoginAttempt.ip == ip)) or 0
    return bool(by_name >= cfg["LOGIN_MAX_FAILURES"] or by_ip >= cfg["LOGIN_MAX_FAILURES_IP"])


def authenticate(username: str, password: str, ip: str) -> User | None:
    """The user when the password is right; None otherwise. Refuses while throttled."""
    username = username.strip()[:64]
    if _throttled(username, ip):
        raise Throttled(f"登录失败次数过多，请 {current_app.config['LOGIN_WINDOW_MINUTES']} 分钟后再试。")
    user = db.session.scalar(sa.select(User).where(User.username == username))
    ok = check_password(user, password) and user is not None and user.active
    db.session.add(LoginAttempt(username=username, ip=ip[:64], success=ok))
    db.session.flush()
    return user if ok else None


def issue_token(user: User) -> tuple[str, ApiToken]:
    token = secrets.token_urlsafe(32)
    row = ApiToken(user=user, token_hash=hashlib.sha256(token.encode()).hexdigest(),
                   expires_at=utcnow() + timedelta(hours=current_app.config["API_TOKEN_HOURS"]))
    db.session.add(row)
    db.session.flush()
    return token, row


def user_for_token(token: str) -> User | None:
    digest = hashlib.sha256(token.encode()).hexdigest()
    row = db.session.scalar(sa.select(ApiToken).where(ApiToken.token_hash == digest))
    if row is None or row.expires_at <= utcnow() or not row.user.active:
        return None
    return row.user


def users_with_role(role: str, unit_ids: Iterable[int] | None = None) -> list[User]:
    """Active users holding ``role`` (in one of ``unit_ids`` when given): whom a notice goes to."""
    query = sa.select(User).where(User.active, User.role_rows.any(role=role))
    if unit_ids is not None:
        query = query.where(User.unit_id.in_(list(unit_ids)))
    return list(db.session.scalars(query.order_by(User.id)))
