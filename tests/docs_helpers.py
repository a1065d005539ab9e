"""Shared set-up for the signed-document tests: the parties of a change order and a meeting, and
helpers that work their tasks through the API and read the PDFs back with poppler."""
from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from tests.conftest import Api

PARTIES = {"contractor": "YW", "supervisor": "JL", "owner": "SJ"}


def change_payload(**overrides: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "title": "机房精密空调改造", "project": "省政务云平台扩容工程",
        "reason": "原设计精密空调制冷量不足，夏季机房温度超过 27℃。\n经三方现场勘察确认需要改造。",
        "content": "一、更换两台精密空调；\n二、增加冷通道封闭。",
        "amount": {"contract": "4800000.00", "change": "120000.00"}, "parties": dict(PARTIES),
    }
    payload.update(overrides)
    return payload


def open_task(api: Api, bpmn_id: str, instance_id: int) -> dict[str, Any] | None:
    for scope in ("mine", "candidate"):
        for task in api.get(f"/tasks?scope={scope}&limit=100").json["items"]:
            if task["instance_id"] == instance_id and task["bpmn_id"] == bpmn_id:
                return dict(task)
    return None


def finish_change_order(api_as: Any) -> dict[str, Any]:
    created = api_as("contractor").post("/change-orders", change_payload())
    assert created.status_code == 201, created.json
    instance_id = created.json["instance_id"]
    for step in ("survey", "sign"):
        for who in ("contractor", "supervisor", "owner"):
            act(api_as(who), instance_id, step, {"decision": "agree", "opinion": f"{who}意见"})
        if step == "survey":
            act(api_as("owner"), instance_id, "owner_review", {"decision": "agree"})
    order = api_as("manager").get(f"/change-orders/{created.json['id']}").json
    return dict(api_as("manager").get(f"/documents/{order['document_id']}").json)


def act(api: Api, instance_id: int, bpmn_id: str, data: dict[str, Any], status: int = 200) -> dict[str, Any]:
    task = open_task(api, bpmn_id, instance_id)
    assert task is not None, f"no open {bpmn_id} task for this user"
    response = api.post(f"/tasks/{task['id']}/complete", {"data": data})
    assert response.status_code == status, response.json
    return dict(response.json)


def pdftext(data: bytes, tmp: Path) -> str:
    path = tmp / "doc.pdf"
    path.write_bytes(data)
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True,
                          check=True).stdout


def pdffonts(data: bytes, tmp: Path) -> str:
    path = tmp / "fonts.pdf"
    path.write_bytes(data)
    return subprocess.run(["pdffonts", str(path)], capture_output=True, text=True, check=True).stdout


def verify(api: Api, data: bytes, name: str = "x.pdf") -> Any:
    import io
    return api.client.post("/api/v1/documents/verify", headers=api.headers,
                           data={"file": (io.BytesIO(data), name)}, content_type="multipart/form-data")
