"""Engineering change orders (MISSION B5): filing, every party's survey and signature, the leader for
larger changes, returns to the initiator, and the signed 工程变更单 in the archive."""
from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from app.extensions import db
from app.models import ChangeOrder, Document, HumanTask, ProcessInstance
from tests.docs_helpers import act, change_payload, open_task, pdffonts, pdftext

AGREE = {"decision": "agree", "opinion": ""}


def file_order(api_as: Any, **overrides: Any) -> tuple[int, int]:
    response = api_as("contractor").post("/change-orders", change_payload(**overrides))
    assert response.status_code == 201, response.json
    assert set(response.json) >= {"id", "instance_id"}
    return int(response.json["id"]), int(response.json["instance_id"])


def all_parties(api_as: Any, instance_id: int, bpmn_id: str, data: dict[str, Any] | None = None) -> None:
    for who in ("contractor", "supervisor", "owner"):
        act(api_as(who), instance_id, bpmn_id, data or {"decision": "agree", "opinion": f"{who} 同意"})


def test_a_small_change_goes_survey_owner_sign_and_is_archived_signed(doc_cast, api_as, app, tmp_path):
    order_id, instance_id = file_order(api_as)
    # one survey task per party, each only for a user of that party's unit holding its role
    for who in ("contractor", "supervisor", "owner"):
        assert open_task(api_as(who), "survey", instance_id) is not None, who
    assert open_task(api_as("outsider"), "survey", instance_id) is None
    assert open_task(api_as("owner_clerk"), "survey", instance_id) is None
    all_parties(api_as, instance_id, "survey")
    assert open_task(api_as("leader"), "leader_approval", instance_id) is None   # 2.5 %: no leader
    act(api_as("owner"), instance_id, "owner_review", {"decision": "agree", "opinion": "确认实施"})
    assert api_as("contractor").get(f"/change-orders/{order_id}").json["status"] == "signing"
    all_parties(api_as, instance_id, "sign")
    order = api_as("contractor").get(f"/change-orders/{order_id}").json
    assert order["status"] == "executable" and order["document_id"]
    listed = api_as("manager").get("/documents?kind=change_order").json["items"]
    assert [d["id"] for d in listed] == [order["document_id"]]
    item = listed[0]
    assert set(item) >= {"id", "kind", "title", "sha256", "created_at", "instance_id"}
    assert item["instance_id"] == instance_id and len(item["sha256"]) == 64
    pdf = api_as("owner").get(f"/documents/{item['id']}/pdf")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    import hashlib
    import os
    if os.environ.get("SAVE_PDF"):
        Path(os.environ["SAVE_PDF"]).write_bytes(pdf.data)   # to look at the pages while changing templates
    assert hashlib.sha256(pdf.data).hexdigest() == item["sha256"]
    text = pdftext(pdf.data, tmp_path)
    for expected in ("工程变更单", "机房精密空调改造", "省政务云平台扩容工程", "4,800,000.00", "120,000.00", "2.50%",
                     "壹拾贰万元整", "施工单位", "监理单位", "建设单位", "吴监理", "郑业主", "supervisor 同意",
                     "系统代签", "签署证据页", "验证码"):
        assert expected in text, expected
    fonts = pdffonts(pdf.data, tmp_path)
    assert "NotoSerifCJK" in fonts.replace("-", "").replace(" ", "") or "Noto-Serif-CJK" in fonts
    verified = api_as("owner").client.post("/api/v1/documents/verify", headers=api_as("owner").headers,
                                           data={"file": (__import__("io").BytesIO(pdf.data), "x.pdf")})
    assert verified.status_code == 200, verified.json
    body = verified.json
    assert body["intact"] is True and body["valid"] is True and body["matches_archive"] is True
    assert body["document_id"] == item["id"]
    assert [s["name"] for s in body["signers"]] == ["GovAssure 系统签章"]


def test_filing_needs_existing_units_and_a_party_initiator_and_changes_nothing_otherwise(doc_cast, api_as, app):
    api = api_as("contractor")
    bad = api.post("/change-orders", change_payload(parties={"contractor": "YW", "supervisor": "NOPE", "owner": "SJ"}))
    assert bad.status_code == 422 and "parties.supervisor" in bad.json["errors"]
    missing = api.post("/change-orders", change_payload(amount={"contract": "abc"}, title=""))
    assert missing.status_code == 422
    assert {"title", "amount.contract", "amount.change"} <= set(missing.json["errors"])
    outsider = api_as("outsider").post("/change-orders", change_payload())
    assert outsider.status_code == 403
    assert api_as("manager").post("/change-orders", change_payload()).status_code == 403
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(ChangeOrder)) == 0
        assert db.session.scalar(sa.select(sa.func.count()).select_from(ProcessInstance)) == 0


def test_a_large_change_needs_the_leader_and_a_disagreement_returns_it_to_the_initiator(doc_cast, api_as, app):
    order_id, instance_id = file_order(api_as, amount={"contract": "4800000", "change": "620000"})
    assert api_as("contractor").get(f"/change-orders/{order_id}").json["needs_leader"] is True
    act(api_as("contractor"), instance_id, "survey", AGREE)
    # the supervisor disagrees: the owner's survey task is withdrawn and the initiator gets it back
    act(api_as("supervisor"), instance_id, "survey", {"decision": "disagree", "opinion": "金额需复核"})
    assert open_task(api_as("owner"), "survey", instance_id) is None
    assert api_as("contractor").get(f"/change-orders/{order_id}").json["status"] == "returned"
    # the revise task is worked on its page (or the revise endpoint), not the generic form
    task = open_task(api_as("contractor"), "revise", instance_id)
    assert task is not None
    generic = api_as("contractor").post(f"/tasks/{task['id']}/complete", {"data": {"decision": "resubmit"}})
    assert generic.status_code == 409
    assert api_as("supervisor").post(f"/change-orders/{order_id}/revise",
                                     {"decision": "resubmit"}).status_code == 403
    revised = api_as("contractor").post(f"/change-orders/{order_id}/revise", {
        "decision": "resubmit", "comment": "已复核", "amount": {"change": "450000"}})
    assert revised.status_code == 200, revised.json
    assert revised.json["needs_leader"] is False and revised.json["status"] == "surveying"
    all_parties(api_as, instance_id, "survey")
    assert open_task(api_as("leader"), "leader_approval", instance_id) is None
    act(api_as("owner"), instance_id, "owner_review", AGREE)
    assert api_as("contractor").get(f"/change-orders/{order_id}").json["status"] == "signing"


def test_the_leader_approves_a_change_over_ten_percent(doc_cast, api_as, app):
    order_id, instance_id = file_order(api_as, amount={"contract": "1000000", "change": "100000.01"})
    all_parties(api_as, instance_id, "survey")
    assert open_task(api_as("owner"), "owner_review", instance_id) is None
    act(api_as("leader"), instance_id, "leader_approval", {"decision": "agree", "opinion": "同意变更"})
    act(api_as("owner"), instance_id, "owner_review", AGREE)
    all_parties(api_as, instance_id, "sign")
    order = api_as("contractor").get(f"/change-orders/{order_id}").json
    assert order["status"] == "executable" and Decimal(order["amount"]["percent"]) == Decimal("10.00")


def test_withdrawing_ends_the_case(doc_cast, api_as, app):
    order_id, instance_id = file_order(api_as)
    act(api_as("contractor"), instance_id, "survey", {"decision": "disagree", "opinion": "需补充图纸"})
    assert api_as("contractor").post(f"/change-orders/{order_id}/revise", {"decision": "withdraw"}).status_code == 200
    assert api_as("contractor").get(f"/change-orders/{order_id}").json["status"] == "withdrawn"
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Document)) == 0
        open_tasks = sa.select(sa.func.count()).select_from(HumanTask).where(HumanTask.status == "open")
        assert db.session.scalar(open_tasks) == 0
