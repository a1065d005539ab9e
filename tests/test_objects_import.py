"""Assessed objects from Excel: all or nothing, every bad row named as the spreadsheet numbers it."""
from __future__ import annotations

from io import BytesIO
from typing import Any

import pytest
from openpyxl import Workbook, load_workbook


def xlsx(rows: list[list[Any]], header: list[str] | None = None) -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.append(header or ["编码", "名称", "类型"])
    for row in rows:
        sheet.append(row)
    out = BytesIO()
    book.save(out)
    return out.getvalue()


def upload(api, data: bytes, name: str = "units.xlsx"):
    return api.client.post("/api/v1/units/import", headers=api.headers,
                           data={"file": (BytesIO(data), name)}, content_type="multipart/form-data")


def codes(api) -> set[str]:
    return {u["code"] for u in api.get("/units").json["items"]}


def test_a_good_sheet_imports_every_row(people, api_as):
    api = api_as("manager")
    data = xlsx([["HBS", "省卫生健康委员会", "省直单位"], ["YY", "岳阳市", "市州"],
                 [1101, "数字编码单位", "department"], [None, None, None]])
    response = upload(api, data)
    assert response.status_code == 201 and response.json == {"created": 3}
    assert {"HBS", "YY", "1101"} <= codes(api)


def test_a_sheet_with_bad_rows_imports_nothing_and_names_every_row(people, api_as):
    api = api_as("manager")
    before = codes(api)
    data = xlsx([
        ["A1", "好的一行", "市州"],          # row 2: fine on its own
        ["", "没有编码", "市州"],            # row 3
        ["A2", "", "外星单位"],              # row 4: two problems
        ["A1", "重复编码", "市州"],          # row 5
        ["GAT", "已存在的编码", "外星单位"],  # row 6: two problems
    ])
    response = upload(api, data)
    assert response.status_code == 422
    rows = response.json["errors"]
    assert [r["row"] for r in rows] == [3, 4, 5, 6]
    assert "编码不能为空" in rows[0]["message"]
    assert "名称不能为空" in rows[1]["message"] and "外星单位" in rows[1]["message"]
    assert "第 2 行重复" in rows[2]["message"]
    assert "已存在" in rows[3]["message"] and "外星单位" in rows[3]["message"]
    assert codes(api) == before


@pytest.mark.parametrize(("data", "why"), [
    (b"not a spreadsheet at all", "不是有效的 Excel"),
    (xlsx([["X", "Y", "市州"]], header=["代码", "名称", "类型"]), "缺少列：编码"),
    (xlsx([]), "没有数据行"),
])
def test_unusable_files_are_refused_clearly(people, api_as, data, why):
    response = upload(api_as("manager"), data)
    assert response.status_code == 422 and why in (response.json["error"] + str(response.json["errors"]))


def test_a_request_without_a_file_is_refused(people, api_as):
    api = api_as("manager")
    response = api.client.post("/api/v1/units/import", headers=api.headers, data={}, content_type="multipart/form-data")
    assert response.status_code == 422


def test_only_admins_and_assessment_managers_import_and_export(people, api_as, client):
    data = xlsx([["Q1", "某单位", "市州"]])
    assert client.post("/api/v1/units/import").status_code == 401
    for other in ("reviewer", "unit_gat"):
        assert upload(api_as(other), data).status_code == 403, other
        assert api_as(other).get("/units/export").status_code == 403, other
    assert upload(api_as("admin"), data).status_code == 201


def test_an_export_reads_back_with_the_import_columns(people, api_as):
    response = api_as("manager").get("/units/export")
    assert response.status_code == 200
    sheet = load_workbook(BytesIO(response.data)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == ("编码", "名称", "类型")
    assert ("GAT", "单位GAT", "省直单位") in rows


def test_the_admin_page_imports_and_shows_row_errors(people, login, client):
    login("admin")
    bad = client.post("/admin/units/import", data={"file": (BytesIO(xlsx([["Z1", "", "市州"]])), "u.xlsx")},
                      content_type="multipart/form-data")
    assert bad.status_code == 422 and "第 2 行" in bad.data.decode() and "名称不能为空" in bad.data.decode()
    good = client.post("/admin/units/import", data={"file": (BytesIO(xlsx([["Z1", "新单位", "市州"]])), "u.xlsx")},
                       content_type="multipart/form-data")
    assert good.status_code == 302
    assert "新单位" in client.get("/admin/units").data.decode()
    assert client.get("/admin/units/export").status_code == 200
    login("manager")
    assert client.get("/admin/units/export").status_code == 403


def test_exported_names_are_text_never_formulas(people, api_as, app):
    from app.database import write_transaction
    from app.extensions import db
    from app.models import Unit
    with app.app_context(), write_transaction():   # e.g. a name stored before inputs were checked
        db.session.add(Unit(code="F1", name='=HYPERLINK("http://example.invalid","点击")', kind="city"))
    sheet = load_workbook(BytesIO(api_as("manager").get("/units/export").data)).active
    cells = [row for row in sheet.iter_rows() if row[0].value == "F1"]
    assert cells and cells[0][1].data_type == "s" and cells[0][1].value.startswith("=HYPERLINK")


def test_names_that_spreadsheets_would_run_as_formulas_are_refused(people, api_as):
    book = Workbook()
    sheet = book.active
    for row in (["编码", "名称", "类型"], ["F2", "=1+1", "市州"], ["@x", "单位", "市州"]):
        sheet.append(row)
    sheet["B2"].data_type = "s"   # typed as text, as a user pasting it would get
    out = BytesIO()
    book.save(out)
    response = upload(api_as("manager"), out.getvalue())
    assert response.status_code == 422
    assert [r["row"] for r in response.json["errors"]] == [2, 3]
    assert all("不能以 = + - @ 开头" in r["message"] for r in response.json["errors"])
