"""Data-source management (数据源管理, A2.4): who may manage sources, their settings and secrets.

The auth header is a secret: it is encrypted at rest (``app.services.secrets``) and never shown
again, only whether one is set. Reading and scoring are in ``app.services.collection``.
"""
from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import current_app

from app.extensions import db
from app.i18n import N_
from app.models import CollectionRun, DataSource, Role, User
from app.models.base import utcnow
from app.services import adapters, secrets
from app.services.errors import Forbidden, Invalid, NotFound

MANAGERS = (Role.ADMIN, Role.ASSESSMENT_MANAGER)
KIND_LABELS: dict[str, str] = {"http_json": N_("HTTP JSON 接口"), "csv": N_("CSV 文件")}
TRIGGER_LABELS: dict[str, str] = {"manual": N_("手动"), "schedule": N_("定时")}
TIMEOUT_RANGE = (1, 60)
MIN_SCHEDULE_MINUTES = 5
MAX_SCHEDULE_MINUTES = 366 * 24 * 60
HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")   # an RFC 9110 token
RUN_LOG_LIMIT = 100


def require_manager(user: User) -> None:
    if not user.has_role(*MANAGERS):
        raise Forbidden("只有系统管理员和考核管理员可以管理数据源")


def may_manage(user: User) -> bool:
    return user.has_role(*MANAGERS)


# ----------------------------------------------------------------------------- validation

class _Errors(dict[str, list[str]]):
    def add(self, key: str, message: str) -> None:
        self.setdefault(key, []).append(message)


def _text(errors: _Errors, payload: dict[str, Any], key: str, *, required: bool, max_len: int) -> str:
    raw = payload.get(key)
    if raw is not None and not isinstance(raw, str):
        errors.add(key, "须为文本。")
        return ""
    text = (raw or "").strip()
    if required and not text:
        errors.add(key, "不能为空。")
    elif len(text) > max_len:
        errors.add(key, f"最多 {max_len} 个字符。")
    return text


def _integer(errors: _Errors, payload: dict[str, Any], key: str, default: int | None,
             low: int, high: int) -> int | None:
    raw = payload.get(key)
    if raw is None or raw == "":
        return default
    if isinstance(raw, bool) or not isinstance(raw, int | str) or not str(raw).strip().isdigit():
        errors.add(key, "须为整数。")
        return default
    number = int(str(raw).strip())
    if not low <= number <= high:
        errors.add(key, f"须在 {low} 到 {high} 之间。")
    return number


def parse_auth_header(line: str) -> tuple[str, str] | None:
    """``"Name: value"`` → (name, value); None when it is not one well-formed header line."""
    name, colon, value = line.partition(":")
    name, value = name.strip(), value.strip()
    if not colon or not HEADER_NAME.match(name) or not value:
        return None
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        return None
    return name, value


def create_source(user: User, payload: Any) -> DataSource:
    """Validate everything first; nothing is stored unless all of it is right."""
    require_manager(user)
    if not isinstance(payload, dict):
        raise Invalid("请求格式错误", {"body": ["须为 JSON 对象。"]})
    errors = _Errors()
    name = _text(errors, payload, "name", required=True, max_len=100)
    kind = payload.get("kind")
    if not isinstance(kind, str) or kind not in KIND_LABELS:
        errors.add("kind", "类型须为 http_json（HTTP JSON 接口）或 csv（CSV 文件）。")
    url = _text(errors, payload, "url", required=kind == "http_json", max_len=2000)
    if url and (problem := adapters.url_problem(url)):
        errors.add("url", problem)
    records_path = _text(errors, payload, "records_path", required=False, max_len=200)
    if records_path and kind == "csv":
        errors.add("records_path", "CSV 数据源不使用记录路径，请留空。")
    elif records_path and any(not part.strip() for part in records_path.split(".")):
        errors.add("records_path", "须为以点分隔的字段名，如 data.items。")
    object_field = _text(errors, payload, "object_field", required=True, max_len=100)
    value_field = _text(errors, payload, "value_field", required=True, max_len=100)
    if object_field and object_field == value_field:
        errors.add("value_field", "数值字段不能与对象编码字段相同。")
    header_line = _text(errors, payload, "auth_header", required=False, max_len=4000)
    if header_line and parse_auth_header(header_line) is None:
        errors.add("auth_header", "须为一行“名称: 值”，如 Authorization: Bearer xxx 或 X-Api-Key: xxx。")
    timeout = _integer(errors, payload, "timeout_seconds", 10, *TIMEOUT_RANGE)
    schedule = _integer(errors, payload, "schedule_minutes", None, MIN_SCHEDULE_MINUTES, MAX_SCHEDULE_MINUTES)
    if name and db.session.scalar(sa.select(DataSource.id).where(DataSource.name == name)):
        errors.add("name", f"数据源 {name} 已存在。")
    if errors:
        raise Invalid("数据源设置有误", dict(errors))
    source = DataSource(
        name=name, kind=kind, url=url or None, records_path=records_path, object_field=object_field,
        value_field=value_field, timeout_seconds=timeout, schedule_minutes=schedule,
        auth_header_secret=secrets.encrypt(header_line) if header_line else None,
        # A scheduled source is first read at the scheduler's next tick, then every schedule_minutes.
        next_run_at=utcnow() if schedule else None, created_by_id=user.id)
    try:
        with db.session.begin_nested():
            db.session.add(source)
    except sa.exc.IntegrityError:   # another request created the same name in between
        raise Invalid("数据源设置有误", {"name": [f"数据源 {name} 已存在。"]}) from None
    return source


# ----------------------------------------------------------------------------- reading

def list_sources(user: User) -> list[DataSource]:
    require_manager(user)
    return list(db.session.scalars(sa.select(DataSource).order_by(DataSource.name)))


def get_source(user: User, source_id: int) -> DataSource:
    require_manager(user)
    source = db.session.get(DataSource, source_id)
    if source is None:
        raise NotFound("数据源不存在")
    return source


def runs_of(source: DataSource, limit: int = RUN_LOG_LIMIT) -> list[CollectionRun]:
    return list(db.session.scalars(sa.select(CollectionRun).where(CollectionRun.datasource_id == source.id)
                                   .order_by(CollectionRun.started_at.desc(), CollectionRun.id.desc())
                                   .limit(limit)))


def last_runs(sources: list[DataSource]) -> dict[int, CollectionRun]:
    """Each source's most recent run (ok or not), for the list page; two queries whatever the count."""
    latest = (sa.select(sa.func.max(CollectionRun.id))
              .where(CollectionRun.datasource_id.in_([s.id for s in sources]))
              .group_by(CollectionRun.datasource_id))
    runs = db.session.scalars(sa.select(CollectionRun).where(CollectionRun.id.in_(latest)))
    return {r.datasource_id: r for r in runs}


def _files_dir() -> Path:
    return Path(current_app.config["COLLECT_FILES_DIR"])


def file_path(source: DataSource) -> Path | None:
    return _files_dir() / f"{source.file_sha256}.csv" if source.file_sha256 else None


def store_file(user: User, source: DataSource, data: bytes) -> DataSource:
    """Keep an uploaded CSV under the instance folder by its SHA-256; it replaces the source's URL."""
    require_manager(user)
    if source.kind != "csv":
        raise Invalid("只有 CSV 数据源可以上传文件", {"file": ["此数据源不是 CSV 类型。"]})
    limit = int(current_app.config["COLLECT_MAX_BYTES"])
    if not data:
        raise Invalid("文件为空", {"file": ["请选择 CSV 文件。"]})
    if len(data) > limit:
        raise Invalid("文件过大", {"file": [f"文件不能超过 {limit // (1024 * 1024)} MB。"]})
    try:
        adapters.decode_csv(data)
    except adapters.SourceError as exc:
        raise Invalid("无法读取文件", {"file": [str(exc)]}) from None
    digest = hashlib.sha256(data).hexdigest()
    target = _files_dir() / f"{digest}.csv"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, partial = tempfile.mkstemp(dir=target.parent, suffix=".part")
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(partial, target)   # atomic: a concurrent run never reads half a file
    source.file_sha256, source.url = digest, None
    db.session.flush()
    return source


def spec(source: DataSource) -> adapters.SourceSpec:
    """What the adapter needs, with the auth header decrypted (raises secrets.InvalidToken)."""
    header = None
    if source.auth_header_secret:
        header = parse_auth_header(secrets.decrypt(source.auth_header_secret))
    return adapters.SourceSpec(
        kind=source.kind, url=source.url, file=file_path(source), records_path=source.records_path,
        object_field=source.object_field, value_field=source.value_field, header=header,
        timeout=float(source.timeout_seconds), max_bytes=int(current_app.config["COLLECT_MAX_BYTES"]),
        max_records=int(current_app.config["COLLECT_MAX_RECORDS"]))


# ----------------------------------------------------------------------------- shown

def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def source_dict(source: DataSource) -> dict[str, Any]:
    """Everything but the secret: only whether an auth header is set."""
    return {
        "id": source.id, "name": source.name, "kind": source.kind, "url": source.url,
        "file_sha256": source.file_sha256, "records_path": source.records_path,
        "object_field": source.object_field, "value_field": source.value_field,
        "has_auth_header": source.auth_header_secret is not None, "timeout_seconds": source.timeout_seconds,
        "schedule_minutes": source.schedule_minutes, "next_run_at": _iso(source.next_run_at),
        "created_at": _iso(source.created_at),
    }


def run_dict(run: CollectionRun) -> dict[str, Any]:
    return {
        "id": run.id, "datasource": run.datasource.name, "datasource_id": run.datasource_id,
        "plan_id": run.plan_id, "trigger": run.trigger, "status": run.status,
        "started_at": _iso(run.started_at), "finished_at": _iso(run.finished_at),
        "records_read": run.records_read, "errors": run.errors or [],
    }
