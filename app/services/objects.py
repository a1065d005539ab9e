"""Assessed objects (考核对象, A2.1): units imported from and exported to Excel.

An import is all or nothing: a file with any bad row is refused with every bad row and why,
numbered as the spreadsheet shows them, and nothing is imported.
"""
from __future__ import annotations

from io import BytesIO
from typing import Any
from zipfile import BadZipFile

import sqlalchemy as sa
from openpyxl import Workbook, load_workbook
from openpyxl.utils.exceptions import InvalidFileException

from app.extensions import db
from app.models import Role, Unit, UnitKind, User
from app.roles import UNIT_KIND_LABELS
from app.services.accounts import FORMULA_PREFIXES
from app.services.errors import Forbidden, InvalidRows

HEADERS = ("编码", "名称", "类型")
MAX_ROWS = 10_000
_KINDS = {k.value: k.value for k in UnitKind} | {label: kind for kind, label in UNIT_KIND_LABELS.items()}


def may_manage(user: User) -> bool:
    return user.has_role(Role.ADMIN, Role.ASSESSMENT_MANAGER)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # a code typed as a number comes back as 1101.0
    return str(value).strip()


def _open(data: bytes) -> Any:
    try:
        return load_workbook(BytesIO(data), read_only=True, data_only=True)
    except (BadZipFile, InvalidFileException, KeyError, OSError, ValueError) as exc:
        raise InvalidRows("文件不是有效的 Excel 工作簿（.xlsx）", [{"row": 0, "message": str(exc)[:200]}]) from None


def import_units(user: User, data: bytes) -> list[Unit]:
    """Create every unit in the first sheet (columns 编码, 名称, 类型), or none of them."""
    if not may_manage(user):
        raise Forbidden("只有管理员或考核管理员可以导入考核对象")
    sheet = _open(data).worksheets[0]
    rows = sheet.iter_rows(values_only=True)
    header = [_cell(v) for v in next(rows, ())]
    missing = [h for h in HEADERS if h not in header]
    if missing:
        message = f"缺少列：{'、'.join(missing)}（表头须为 编码、名称、类型）"
        raise InvalidRows("表头不正确", [{"row": 1, "message": message}])
    column = {h: header.index(h) for h in HEADERS}
    sheet_rows: list[tuple[int, str, str, str]] = []
    for number, raw in enumerate(rows, start=2):
        values = [_cell(raw[column[h]]) if column[h] < len(raw) else "" for h in HEADERS]
        if any(values):
            sheet_rows.append((number, values[0], values[1], values[2]))
        if len(sheet_rows) > MAX_ROWS:
            raise InvalidRows("文件太大", [{"row": number, "message": f"一次最多导入 {MAX_ROWS} 行"}])
    existing = set(db.session.scalars(sa.select(Unit.code).where(Unit.code.in_({r[1] for r in sheet_rows if r[1]}))))
    errors: list[dict[str, object]] = []
    wanted: list[tuple[str, str, str]] = []
    first_row_of: dict[str, int] = {}
    for number, code, name, kind_text in sheet_rows:
        problems = []
        if not code:
            problems.append("编码不能为空")
        elif len(code) > 40:
            problems.append("编码最多 40 个字符")
        elif code in first_row_of:
            problems.append(f"编码 {code} 与第 {first_row_of[code]} 行重复")
        elif code in existing:
            problems.append(f"编码 {code} 已存在")
        first_row_of.setdefault(code, number)
        if code.startswith(FORMULA_PREFIXES) or name.startswith(FORMULA_PREFIXES):
            problems.append("编码和名称不能以 = + - @ 开头")
        if not name:
            problems.append("名称不能为空")
        elif len(name) > 200:
            problems.append("名称最多 200 个字符")
        kind = _KINDS.get(kind_text)
        if kind is None:
            problems.append(f"类型“{kind_text}”无效，须为 {'、'.join(UNIT_KIND_LABELS.values())} 之一")
        if problems:
            errors.append({"row": number, "message": "；".join(problems)})
        elif kind is not None:
            wanted.append((code, name, kind))
    if errors:
        raise InvalidRows(f"{len(errors)} 行有误，未导入任何数据", errors)
    if not wanted:
        raise InvalidRows("文件中没有数据行", [{"row": 2, "message": "没有可导入的行"}])
    units = [Unit(code=code, name=name, kind=kind) for code, name, kind in wanted]
    db.session.add_all(units)
    db.session.flush()
    return units


def list_units() -> list[Unit]:
    return list(db.session.scalars(sa.select(Unit).order_by(Unit.kind, Unit.code)))


def export_units(user: User) -> bytes:
    """Every unit as a workbook with the same columns the import reads."""
    if not may_manage(user):
        raise Forbidden("只有管理员或考核管理员可以导出考核对象")
    book = Workbook()
    sheet = book.active
    sheet.title = "考核对象"
    sheet.append(list(HEADERS))
    for unit in list_units():
        sheet.append([unit.code, unit.name, UNIT_KIND_LABELS.get(unit.kind, unit.kind)])
        for cell in sheet[sheet.max_row]:
            cell.data_type = "s"  # always text: a name starting with "=" must not become a live formula
    for column, width in zip("ABC", (16, 40, 12), strict=True):
        sheet.column_dimensions[column].width = width
    out = BytesIO()
    book.save(out)
    return out.getvalue()
