"""Automatic collection (A2.4): data sources read over real HTTP from a local server, every failure
mode logged as a failed run that stores nothing, CSV in UTF-8 (BOM) and GB18030, and the secret
auth header sent but never shown."""
from __future__ import annotations

import codecs
import io
import json
import stat
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from app.extensions import db
from app.models import CollectedValue, CollectionRun, DataSource
from tests.conftest import make_app

SECRET = "Bearer s3cret-token-XYZ"
GOOD = {"code": 0, "data": {"items": [{"unit": "GAT", "rate": "98.5"}, {"unit": "CS", "rate": 87}]}}


def source(api: Any, url: str, **fields: Any) -> dict[str, Any]:
    payload = {"name": "好差评", "kind": "http_json", "url": url, "records_path": "data.items",
               "object_field": "unit", "value_field": "rate", **fields}
    created = api.post("/datasources", payload)
    assert created.status_code == 201, created.json
    return dict(created.json)


def values_of(app: Flask, run_id: int) -> dict[str, str]:
    with app.app_context():
        rows = db.session.scalars(sa.select(CollectedValue).where(CollectedValue.run_id == run_id))
        return {v.object_code: format(v.value.normalize(), "f") for v in rows}


@pytest.mark.parametrize("header", [f"Authorization: {SECRET}", f"X-Api-Key: {SECRET}"])
def test_a_json_source_is_read_with_its_secret_header_which_is_never_shown(
        app, people, api_as, source_server, header):
    manager = api_as("manager")
    url = source_server.answer("/api/rates", GOOD)
    created = source(manager, url, auth_header=header)
    assert created["has_auth_header"] is True and created["schedule_minutes"] is None
    assert created["timeout_seconds"] == 10

    ran = manager.post(f"/datasources/{created['id']}/run")
    assert ran.status_code == 200, ran.json
    assert (ran.json["status"], ran.json["records_read"], ran.json["errors"]) == ("ok", 2, [])
    assert ran.json["trigger"] == "manual" and ran.json["finished_at"] >= ran.json["started_at"]
    assert values_of(app, ran.json["id"]) == {"GAT": "98.5", "CS": "87"}
    name, _, value = header.partition(": ")
    assert source_server.hits("/api/rates")[0][name.lower()] == value

    # Nowhere again: not in any answer, not on any page, not in the database in clear.
    shown = [manager.get("/datasources"), manager.get(f"/datasources/{created['id']}"),
             manager.get(f"/datasources/{created['id']}/runs"), ran]
    assert all(r.status_code == 200 and "s3cret" not in r.get_data(as_text=True) for r in shown)
    listed = manager.get("/datasources").json["items"][0]
    assert listed["has_auth_header"] is True and not any(k == "auth_header" for k in listed)
    with app.test_client() as browser:
        from tests.conftest import PASSWORD
        browser.post("/login", data={"username": "manager", "password": PASSWORD})
        for page in ("/datasources", f"/datasources/{created['id']}"):
            html = browser.get(page).get_data(as_text=True)
            assert "已设置" in html and "s3cret" not in html, page
    with app.app_context():
        stored = db.session.scalar(sa.select(DataSource.auth_header_secret))
        assert stored and "s3cret" not in stored


def test_the_secret_key_survives_a_restart_and_is_private(app, instance_dir, people, api_as, source_server):
    url = source_server.answer("/api/rates", GOOD)
    created = source(api_as("manager"), url, auth_header=f"Authorization: {SECRET}")
    key = Path(app.config["FERNET_KEY_PATH"])
    assert key.is_relative_to(instance_dir) and stat.S_IMODE(key.stat().st_mode) == 0o600
    restarted = make_app(instance_dir)   # a new process would build exactly this
    try:
        from tests.conftest import PASSWORD, Api
        client = restarted.test_client()
        token = client.post("/api/v1/auth/token", json={"username": "manager", "password": PASSWORD}).json["token"]
        assert Api(client, token).post(f"/datasources/{created['id']}/run").json["status"] == "ok"
    finally:
        with restarted.app_context():
            db.engine.dispose()
    assert [h["authorization"] for h in source_server.hits("/api/rates")] == [SECRET]


GOOD_FIELDS = {"name": "好差评", "kind": "http_json", "url": "https://data.example.gov.cn/rates",
               "object_field": "unit", "value_field": "rate"}


@pytest.mark.parametrize(("change", "field"), [
    ({"url": "file:///etc/passwd"}, "url"),
    ({"url": "ftp://data.example.gov.cn/x.csv"}, "url"),
    ({"url": "/etc/passwd"}, "url"),
    ({"url": "javascript:alert(1)"}, "url"),
    ({"url": "http:///no-host"}, "url"),
    ({"url": ""}, "url"),                                          # required for http_json
    ({"kind": "csv", "url": "file:///tmp/rates.csv"}, "url"),
    ({"kind": "xml"}, "kind"),
    ({"kind": ["csv"]}, "kind"),
    ({"name": ""}, "name"),
    ({"object_field": ""}, "object_field"),
    ({"value_field": "unit"}, "value_field"),
    ({"records_path": "data..items"}, "records_path"),
    ({"kind": "csv", "records_path": "data"}, "records_path"),
    ({"auth_header": "Bearer abc"}, "auth_header"),                 # not "Name: value"
    ({"auth_header": "Bad Name: x"}, "auth_header"),
    ({"timeout_seconds": 0}, "timeout_seconds"),
    ({"timeout_seconds": 61}, "timeout_seconds"),
    ({"timeout_seconds": "ten"}, "timeout_seconds"),
    ({"schedule_minutes": 4}, "schedule_minutes"),
    ({"schedule_minutes": True}, "schedule_minutes"),
])
def test_bad_settings_are_refused_per_field_and_nothing_is_stored(app, people, api_as, change, field):
    manager = api_as("manager")
    response = manager.post("/datasources", {**GOOD_FIELDS, **change})
    assert response.status_code == 422, response.json
    assert field in response.json["errors"], response.json
    assert manager.get("/datasources").json["items"] == []


def test_a_duplicate_name_is_refused_with_422(people, api_as):
    manager = api_as("manager")
    assert manager.post("/datasources", GOOD_FIELDS).status_code == 201
    again = manager.post("/datasources", {**GOOD_FIELDS, "url": "https://other.example/x"})
    assert again.status_code == 422 and again.json["errors"]["name"] == ["数据源 好差评 已存在。"]
    assert len(manager.get("/datasources").json["items"]) == 1


def test_a_scheduled_source_is_first_due_at_once(people, api_as):
    created = api_as("admin").post("/datasources", {**GOOD_FIELDS, "schedule_minutes": "15", "timeout_seconds": "5"})
    assert created.status_code == 201
    assert (created.json["schedule_minutes"], created.json["timeout_seconds"]) == (15, 5)
    assert created.json["next_run_at"] is not None


def records(*items: dict[str, Any]) -> dict[str, Any]:
    return {"data": {"items": list(items)}}


FAILURES = {
    "http_500": ({"body": "boom", "status": 500}, ["HTTP 500"]),
    "http_404": ({"body": "gone", "status": 404}, ["HTTP 404"]),
    "bad_json": ({"body": b'{"data": {"items": [{"unit": "GAT", "rate": 1},'}, ["不是有效的 JSON"]),
    "not_json_encoding": ({"body": b"\xff\xfe\x00garbage"}, ["不是有效的 JSON"]),
    "huge_integer": ({"body": b'{"data": {"items": [{"unit": "GAT", "rate": ' + b"9" * 5000 + b"}]}}"},
                     ["不是有效的 JSON"]),
    "missing_path": ({"body": {"data": {"rows": []}}}, ["找不到记录路径 data.items（data 处没有 items）"]),
    "path_not_a_list": ({"body": {"data": {"items": {"GAT": 1}}}}, ["不是列表"]),
    "missing_fields": ({"body": records({"unit": "GAT", "rate": 1}, {"unit": "CS"}, {"rate": 3}, "x")},
                       ["第 2 条记录：缺少数值字段 rate", "第 3 条记录：缺少对象编码字段 unit", "第 4 条记录不是对象"]),
    "non_numeric": ({"body": records({"unit": "GAT", "rate": "98%"}, {"unit": "CS", "rate": True},
                                      {"unit": "ZZ", "rate": [1]})},
                    ["第 1 条记录：rate 的值 98% 不是数字", "第 2 条记录：rate 的值 true 不是数字",
                     "第 3 条记录：rate 的值 [1] 不是数字"]),
    "non_finite": ({"body": b'{"data": {"items": [{"unit": "GAT", "rate": NaN}, {"unit": "CS", "rate": "Infinity"}]}}'},
                   ["第 1 条记录：rate 的值 NaN 不是有限数值", "第 2 条记录：rate 的值 Infinity 不是有限数值"]),
    "duplicate": ({"body": records({"unit": "GAT", "rate": 1}, {"unit": "CS", "rate": 2}, {"unit": "GAT", "rate": 3})},
                  ["第 3 条记录：对象 GAT 重复（第 1 条记录已有）"]),
    "empty": ({"body": records()}, ["没有读到任何记录"]),
}


@pytest.mark.parametrize("case", list(FAILURES))
def test_every_failure_is_a_failed_run_with_its_problems_and_keeps_the_good_values(
        app, people, api_as, source_server, case):
    answer, expected = FAILURES[case]
    manager = api_as("manager")
    url = source_server.answer("/api/rates", GOOD)
    created = source(manager, url)
    good = manager.post(f"/datasources/{created['id']}/run").json
    assert good["status"] == "ok"

    source_server.answer("/api/rates", **answer)
    failed = manager.post(f"/datasources/{created['id']}/run")
    assert failed.status_code == 200 and failed.json["status"] == "failed", failed.json
    messages = [e["message"] for e in failed.json["errors"]]
    for text in expected:
        assert any(text in m for m in messages), (text, messages)
    assert values_of(app, failed.json["id"]) == {}          # nothing from a failed run, not even its good records
    runs = manager.get(f"/datasources/{created['id']}/runs").json["items"]
    assert [r["status"] for r in runs] == ["failed", "ok"]
    with app.app_context():
        from app.services import collection
        latest, values = collection.latest_values(db.session.get(DataSource, created["id"]), 10)
        assert latest.id == good["id"] and {v.object_code for v in values} == {"GAT", "CS"}


def test_record_numbers_are_given_for_each_bad_record(people, api_as, source_server):
    url = source_server.answer("/r", records({"unit": "GAT", "rate": 1}, {"unit": "CS", "rate": "x"}))
    ran = api_as("manager").post(f"/datasources/{source(api_as('manager'), url)['id']}/run").json
    assert ran["errors"] == [{"record": 2, "message": "第 2 条记录：rate 的值 x 不是数字。"}]
    assert ran["records_read"] == 2


def test_a_slow_server_times_out_quickly(people, api_as, source_server):
    url = source_server.answer("/slow", GOOD, delay=30)
    created = source(api_as("manager"), url, timeout_seconds=1)
    started = time.monotonic()
    ran = api_as("manager").post(f"/datasources/{created['id']}/run").json
    assert time.monotonic() - started < 5
    assert ran["status"] == "failed" and "超时" in ran["errors"][0]["message"], ran


def test_an_unreachable_server_and_an_oversized_answer_fail_the_run(app, people, api_as, source_server):
    manager = api_as("manager")
    import socket
    with socket.socket() as sock:   # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}/x"
    refused = manager.post(f"/datasources/{source(manager, closed)['id']}/run").json
    assert refused["status"] == "failed" and "无法连接" in refused["errors"][0]["message"]

    big = source_server.answer("/big", {"data": {"items": [{"unit": f"U{i}", "rate": i} for i in range(2000)]}})
    created = source(manager, big, name="大文件")
    limit = app.config["COLLECT_MAX_BYTES"]
    app.config["COLLECT_MAX_BYTES"] = 1000
    try:
        ran = manager.post(f"/datasources/{created['id']}/run").json
    finally:
        app.config["COLLECT_MAX_BYTES"] = limit
    assert ran["status"] == "failed" and "超过上限" in ran["errors"][0]["message"]


def test_a_redirect_to_another_scheme_is_not_followed_and_the_header_stays_home(people, api_as, source_server):
    manager = api_as("manager")
    to_file = source_server.answer("/to-file", "file:///etc/passwd", status=302)
    ran = manager.post(f"/datasources/{source(manager, to_file, auth_header='X-Api-Key: k1')['id']}/run").json
    assert ran["status"] == "failed" and "not allowed" in ran["errors"][0]["message"]   # urllib's own refusal
    to_ftp = source_server.answer("/to-ftp", "ftp://127.0.0.1/x.csv", status=302)
    ran = manager.post(f"/datasources/{source(manager, to_ftp, name='FTP')['id']}/run").json
    assert ran["status"] == "failed" and "不允许的地址（ftp）" in ran["errors"][0]["message"]   # ours

    source_server.answer("/moved", GOOD)
    hop = source_server.answer("/hop", source_server.url("/moved"), status=302)
    ran = manager.post(f"/datasources/{source(manager, hop, name='跳转', auth_header='X-Api-Key: k2')['id']}/run").json
    assert ran["status"] == "ok"
    assert source_server.hits("/hop")[0]["x-api-key"] == "k2"
    assert "x-api-key" not in source_server.hits("/moved")[0]


# ----------------------------------------------------------------------------- CSV

CSV_TEXT = "单位编码,单位名称,好评率\r\nGAT,省公安厅,99.2\r\nCS,长沙市,\"88\"\r\n,,\r\n"


def csv_source(api: Any, url: str | None = None, **fields: Any) -> dict[str, Any]:
    return source(api, url, **{"name": "办件CSV", "kind": "csv", "records_path": "",
                               "object_field": "单位编码", "value_field": "好评率", **fields})


def test_a_csv_at_a_url_in_utf8_with_bom(app, people, api_as, source_server):
    manager = api_as("manager")
    url = source_server.answer("/rates.csv", codecs.BOM_UTF8 + CSV_TEXT.encode(), content_type="text/csv")
    created = csv_source(manager, url=url)
    ran = manager.post(f"/datasources/{created['id']}/run").json
    assert ran["status"] == "ok" and ran["records_read"] == 2, ran
    assert values_of(app, ran["id"]) == {"GAT": "99.2", "CS": "88"}


@pytest.mark.parametrize("encoding", ["gb18030", "utf-8-sig", "utf-8"])
def test_an_uploaded_csv_file_in_gb18030_or_utf8(app, people, api_as, encoding):
    manager = api_as("manager")
    created = csv_source(manager)
    never = manager.post(f"/datasources/{created['id']}/run").json
    assert never["status"] == "failed" and "未上传" in never["errors"][0]["message"]

    data = CSV_TEXT.encode(encoding)
    uploaded = manager.client.post(f"/api/v1/datasources/{created['id']}/file", headers=manager.headers,
                                   data={"file": (io.BytesIO(data), "好评率.csv")}, content_type="multipart/form-data")
    assert uploaded.status_code == 200, uploaded.json
    import hashlib
    digest = hashlib.sha256(data).hexdigest()
    assert uploaded.json["file_sha256"] == digest and uploaded.json["url"] is None
    assert (Path(app.config["COLLECT_FILES_DIR"]) / f"{digest}.csv").read_bytes() == data
    ran = manager.post(f"/datasources/{created['id']}/run").json
    assert ran["status"] == "ok", ran
    assert values_of(app, ran["id"]) == {"GAT": "99.2", "CS": "88"}


def test_csv_problems_are_numbered_by_spreadsheet_row(app, people, api_as):
    manager = api_as("manager")
    created = csv_source(manager)
    text = "单位编码,好评率\nGAT,99\nCS,九十\nGAT,80\nXX\n"
    manager.client.post(f"/api/v1/datasources/{created['id']}/file", headers=manager.headers,
                        data={"file": (io.BytesIO(text.encode("gb18030")), "x.csv")},
                        content_type="multipart/form-data")
    ran = manager.post(f"/datasources/{created['id']}/run").json
    assert ran["status"] == "failed"
    assert [e["message"] for e in ran["errors"]] == [
        "第 3 行：好评率 的值 九十 不是数字。", "第 4 行：对象 GAT 重复（第 2 行已有）。",
        "第 5 行：缺少数值字段 好评率。"]

    wrong = csv_source(manager, name="列名不对", object_field="编码")
    manager.client.post(f"/api/v1/datasources/{wrong['id']}/file", headers=manager.headers,
                        data={"file": (io.BytesIO(text.encode()), "x.csv")}, content_type="multipart/form-data")
    ran = manager.post(f"/datasources/{wrong['id']}/run").json
    assert ran["status"] == "failed" and "表头中没有列 编码" in ran["errors"][0]["message"]


def test_uploads_are_refused_for_json_sources_and_empty_files(people, api_as, source_server):
    manager = api_as("manager")
    created = source(manager, source_server.answer("/r", GOOD))
    response = manager.client.post(f"/api/v1/datasources/{created['id']}/file", headers=manager.headers,
                                   data={"file": (io.BytesIO(b"a,b\n1,2\n"), "x.csv")},
                                   content_type="multipart/form-data")
    assert response.status_code == 422 and "file" in response.json["errors"]
    csv_one = csv_source(manager)
    response = manager.client.post(f"/api/v1/datasources/{csv_one['id']}/file", headers=manager.headers,
                                   data={"file": (io.BytesIO(b""), "x.csv")}, content_type="multipart/form-data")
    assert response.status_code == 422


def test_too_many_errors_are_summarised(app, people, api_as, source_server):
    body = records(*[{"unit": f"U{i}", "rate": "x"} for i in range(250)])
    created = source(api_as("manager"), source_server.answer("/many", body))
    ran = api_as("manager").post(f"/datasources/{created['id']}/run").json
    assert len(ran["errors"]) == 201 and ran["errors"][-1]["message"] == "另有 50 个问题未列出。"
    assert json.dumps(ran, ensure_ascii=False).count("不是数字") == 200


def test_the_run_log_is_newest_first(app, people, api_as, source_server):
    manager = api_as("manager")
    created = source(manager, source_server.answer("/r", GOOD))
    ids = [manager.post(f"/datasources/{created['id']}/run").json["id"] for _ in range(3)]
    assert [r["id"] for r in manager.get(f"/datasources/{created['id']}/runs").json["items"]] == ids[::-1]
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(CollectionRun.id))) == 3
