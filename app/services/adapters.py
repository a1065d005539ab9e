"""Collection adapters (采集适配器): read a data source and parse it into one value per object.

Nothing here touches the database, so every failure mode is testable on its own. A problem never
escapes ``read`` as an exception: it becomes an entry of ``Reading.errors`` (with the record number
where there is one) and the caller keeps no value from that reading.
"""
from __future__ import annotations

import csv
import http.client
import io
import json
import ssl
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

SCHEMES = ("http", "https")
VALUE_PLACES = Decimal("0.000001")      # collected_value.value is Numeric(20, 6)
VALUE_LIMIT = Decimal(10) ** 14
MAX_CODE_LENGTH = 64                    # collected_value.object_code
MAX_LISTED_ERRORS = 200                 # a broken 100,000-row file must not make a 10 MB run log
CHUNK = 64 * 1024


@dataclass(frozen=True)
class SourceSpec:
    kind: str                               # http_json | csv
    url: str | None                         # http(s) address; None for an uploaded CSV
    file: Path | None                       # the uploaded CSV
    records_path: str
    object_field: str
    value_field: str
    header: tuple[str, str] | None          # the auth header, decrypted
    timeout: float
    max_bytes: int
    max_records: int


@dataclass(frozen=True)
class Value:
    object_code: str
    value: Decimal
    raw: str


@dataclass
class Reading:
    values: list[Value] = field(default_factory=list)
    records_read: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    _omitted: int = 0

    @property
    def ok(self) -> bool:
        return not self.errors

    def problem(self, message: str, record: int | None = None) -> None:
        if len(self.errors) < MAX_LISTED_ERRORS:
            self.errors.append({"record": record, "message": message})
            return
        self._omitted += 1
        summary = {"record": None, "message": f"另有 {self._omitted} 个问题未列出。"}
        if self.errors[-1]["message"].startswith("另有 "):
            self.errors[-1] = summary
        else:
            self.errors.append(summary)


class SourceError(Exception):
    """One problem that stops the whole reading (timeout, HTTP status, unreadable body …)."""


def url_problem(url: str) -> str | None:
    """Why an address may not be read, or None. Only http(s) with a host: no file://, no local paths."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises on a bad port)
    except ValueError:
        return "地址格式错误。"
    if parts.scheme.lower() not in SCHEMES:
        return "只支持 http:// 或 https:// 地址。"
    if not parts.hostname:
        return "地址缺少主机名。"
    if any(c.isspace() or ord(c) < 32 for c in url):
        return "地址不能包含空白或控制字符。"
    return None


# ----------------------------------------------------------------------------- reading bytes

class _Redirects(urllib.request.HTTPRedirectHandler):
    """Follow redirects only to http(s). The auth header is an *unredirected* header, so it is sent
    to the configured address only, never to wherever that address redirects."""

    def redirect_request(self, req: urllib.request.Request, fp: Any, code: int, msg: str,
                         headers: Any, newurl: str) -> urllib.request.Request | None:
        if url_problem(newurl):
            raise SourceError(f"服务器重定向到不允许的地址（{urlsplit(newurl).scheme or '无协议'}）。")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _opener() -> urllib.request.OpenerDirector:
    # Built by hand rather than with build_opener(): no file://, ftp:// or data: handlers at all.
    opener = urllib.request.OpenerDirector()
    for handler in (urllib.request.ProxyHandler(), urllib.request.UnknownHandler(),
                    urllib.request.HTTPHandler(), urllib.request.HTTPSHandler(context=ssl.create_default_context()),
                    urllib.request.HTTPDefaultErrorHandler(), _Redirects(), urllib.request.HTTPErrorProcessor()):
        opener.add_handler(handler)
    return opener


def fetch(url: str, header: tuple[str, str] | None, timeout: float, max_bytes: int) -> bytes:
    """GET an http(s) address within ``timeout`` seconds overall and at most ``max_bytes``."""
    if problem := url_problem(url):
        raise SourceError(problem)
    request = urllib.request.Request(  # noqa: S310  (http(s) only: checked above, and no other handlers)
        url, headers={"Accept": "application/json, text/csv, */*", "User-Agent": "GovAssure-collector/1"})
    if header is not None:
        request.add_unredirected_header(*header)
    deadline = time.monotonic() + timeout
    try:
        with _opener().open(request, timeout=timeout) as response:
            length = response.headers.get("Content-Length")
            if length and length.isdigit() and int(length) > max_bytes:
                raise SourceError(f"响应大小 {int(length)} 字节，超过上限 {max_bytes} 字节。")
            chunks, size = [], 0
            while chunk := response.read1(CHUNK):   # read1: one recv at a time, so the deadline holds
                size += len(chunk)
                if size > max_bytes:
                    raise SourceError(f"响应超过上限 {max_bytes} 字节。")
                if time.monotonic() > deadline:   # a server trickling bytes must not hold the run
                    raise SourceError(f"读取超时（超过 {timeout:g} 秒）。")
                chunks.append(chunk)
            return b"".join(chunks)
    except urllib.error.HTTPError as exc:
        raise SourceError(f"服务器返回 HTTP {exc.code} {exc.reason}。") from None
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, TimeoutError):
            raise SourceError(f"连接超时（超过 {timeout:g} 秒）。") from None
        raise SourceError(f"无法连接：{exc.reason}。") from None
    except TimeoutError:
        raise SourceError(f"读取超时（超过 {timeout:g} 秒）。") from None
    except (OSError, http.client.HTTPException, ValueError) as exc:
        raise SourceError(f"读取失败：{type(exc).__name__} {exc}。") from None


def _body(spec: SourceSpec) -> bytes:
    if spec.url:
        return fetch(spec.url, spec.header, spec.timeout, spec.max_bytes)
    if spec.file is None:
        raise SourceError("尚未设置地址，也未上传 CSV 文件。")
    try:
        data = spec.file.read_bytes()
    except FileNotFoundError:
        raise SourceError("上传的 CSV 文件已不存在，请重新上传。") from None
    if len(data) > spec.max_bytes:
        raise SourceError(f"文件超过上限 {spec.max_bytes} 字节。")
    return data


# ----------------------------------------------------------------------------- parsing records

def _code(raw: Any) -> str | None:
    if isinstance(raw, bool) or not isinstance(raw, str | int):
        return None
    return str(raw).strip()


def _value(raw: Any) -> tuple[Decimal | None, str]:
    """(the number, or None when it is not one; the value as the source gave it)."""
    if isinstance(raw, bool) or not isinstance(raw, str | int | Decimal):
        return None, json.dumps(raw, ensure_ascii=False, default=str)
    text = str(raw).strip()
    try:
        return Decimal(text), text
    except InvalidOperation:
        return None, text


def _number(reading: Reading, where: str, record: int, value_raw: Any, value_field: str) -> Value | None:
    """The record's value, or None after listing what is wrong with it (object code filled in later)."""
    if value_raw is None or (isinstance(value_raw, str) and not value_raw.strip()):
        reading.problem(f"{where}缺少数值字段 {value_field}。", record)
        return None
    number, raw = _value(value_raw)
    if number is None:
        reading.problem(f"{where}{value_field} 的值 {raw[:50]} 不是数字。", record)
    elif not number.is_finite():
        reading.problem(f"{where}{value_field} 的值 {raw[:50]} 不是有限数值。", record)
    elif abs(number) >= VALUE_LIMIT:
        reading.problem(f"{where}{value_field} 的值 {raw[:50]} 超出范围。", record)
    else:
        return Value("", number.quantize(VALUE_PLACES, rounding=ROUND_HALF_UP), raw)
    return None


def _add(reading: Reading, seen: dict[str, int], record: int, code_raw: Any, value_raw: Any,
         object_field: str, value_field: str, noun: str) -> None:
    """Check one record's object code and value; keep them or list everything that is wrong."""
    where = f"第 {record} {noun}："
    code = _code(code_raw)
    if code_raw is None or code == "":
        reading.problem(f"{where}缺少对象编码字段 {object_field}。", record)
        code = None
    elif code is None:
        reading.problem(f"{where}对象编码 {object_field} 须为文本或整数。", record)
    elif len(code) > MAX_CODE_LENGTH:
        reading.problem(f"{where}对象编码超过 {MAX_CODE_LENGTH} 个字符。", record)
        code = None
    elif code in seen:   # a duplicate even when one of the two values is bad: both rows claim the object
        reading.problem(f"{where}对象 {code} 重复（第 {seen[code]} {noun}已有）。", record)
        code = None
    else:
        seen[code] = record
    value = _number(reading, where, record, value_raw, value_field)
    if code and value:
        reading.values.append(Value(code, value.value, value.raw))


def _walk(document: Any, path: str) -> Any:
    current = document
    walked: list[str] = []
    for key in [k for k in path.split(".") if k] if path else []:
        if isinstance(current, dict) and key in current:
            current = current[key]
        elif isinstance(current, list) and key.isdigit() and int(key) < len(current):
            current = current[int(key)]
        else:
            at = ".".join(walked) or "顶层"
            raise SourceError(f"找不到记录路径 {path}（{at} 处没有 {key}）。")
        walked.append(key)
    if not isinstance(current, list):
        raise SourceError(f"记录路径 {path or '（顶层）'} 处不是列表。")
    return current


def parse_json(body: bytes, spec: SourceSpec) -> Reading:
    try:
        # Decimal, never float; NaN/Infinity literals become Decimals that the finiteness check refuses.
        document = json.loads(body, parse_float=Decimal, parse_constant=Decimal)
    except json.JSONDecodeError as exc:
        raise SourceError(f"不是有效的 JSON：{exc.msg}（第 {exc.lineno} 行第 {exc.colno} 列）。") from None
    except (ValueError, RecursionError):   # bad encoding, nesting too deep, an integer of 5,000 digits …
        raise SourceError("不是有效的 JSON（编码错误、嵌套过深或数字过长）。") from None
    records = _walk(document, spec.records_path)
    reading = Reading(records_read=len(records))
    if len(records) > spec.max_records:
        raise SourceError(f"记录数 {len(records)} 超过上限 {spec.max_records}。")
    seen: dict[str, int] = {}
    for number, record in enumerate(records, 1):
        if not isinstance(record, dict):
            reading.problem(f"第 {number} 条记录不是对象。", number)
            continue
        _add(reading, seen, number, record.get(spec.object_field), record.get(spec.value_field),
             spec.object_field, spec.value_field, "条记录")
    return reading


def decode_csv(body: bytes) -> str:
    """UTF-8 with or without BOM, else GB18030 (what Excel in a Chinese locale saves)."""
    try:
        return body.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return body.decode("gb18030")
    except UnicodeDecodeError:
        raise SourceError("无法识别 CSV 文件的编码（须为 UTF-8 或 GB18030/GBK）。") from None


def parse_csv(body: bytes, spec: SourceSpec) -> Reading:
    """Rows are numbered as a spreadsheet shows them: the header is row 1."""
    rows = csv.reader(io.StringIO(decode_csv(body), newline=""))
    try:
        header = [name.strip() for name in next(rows, [])]
        if not any(header):
            raise SourceError("CSV 文件为空（第一行须为表头）。")
        missing = [f for f in (spec.object_field, spec.value_field) if f not in header]
        if missing:
            raise SourceError(f"表头中没有列 {'、'.join(missing)}（表头为 {'、'.join(header)[:200]}）。")
        code_at, value_at = header.index(spec.object_field), header.index(spec.value_field)
        reading, seen = Reading(), dict[str, int]()
        for row_number, row in enumerate(rows, 2):
            if not any(cell.strip() for cell in row):
                continue   # blank lines, e.g. the trailing ",,," rows Excel leaves
            reading.records_read += 1
            if reading.records_read > spec.max_records:
                raise SourceError(f"记录数超过上限 {spec.max_records}。")
            code = row[code_at] if code_at < len(row) else None
            value = row[value_at] if value_at < len(row) else None
            _add(reading, seen, row_number, code, value, spec.object_field, spec.value_field, "行")
    except csv.Error as exc:
        raise SourceError(f"CSV 格式错误：{exc}。") from None
    return reading


PARSERS = {"http_json": parse_json, "csv": parse_csv}


def read(spec: SourceSpec) -> Reading:
    """Read and parse a source. Any listed problem means the reading must not be used."""
    try:
        reading = PARSERS[spec.kind](_body(spec), spec)
    except SourceError as exc:
        return Reading(errors=[{"record": None, "message": str(exc)}])
    if reading.ok and not reading.values:
        reading.problem("没有读到任何记录。")
    if not reading.ok:
        reading.values = []
    return reading

