"""Meeting minutes (MISSION B4): the recorder drafts, every participant confirms, the host archives;
action items become tracked follow-ups and the signed 会议纪要 is archived."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from app.extensions import db
from app.models import ActionItem, Meeting, ProcessInstance
from tests.docs_helpers import act, open_task, pdffonts, pdftext


def meeting_payload(**overrides: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "title": "2027年第一季度运维工作例会", "kind": "regular", "held_at": "2027-03-05T09:30",
        "location": "省政务服务中心 3 楼会议室", "agenda": "通报一季度运维情况，研究机房空调改造。",
        "recorder": "supervisor", "participants": ["contractor", "supervisor", "owner"],
    }
    payload.update(overrides)
    return payload


MINUTES = {
    "summary": "会议通报了一季度平台运行情况。\n与会各方就机房空调改造进行了讨论。",
    "decisions": ["同意启动机房精密空调改造，由运维单位提出工程变更申请。", "监理单位加强夏季巡检。"],
    "action_items": [{"content": "提交空调改造变更申请", "owner": "contractor", "due": "2027-03-20"},
                     {"content": "编制夏季巡检方案", "owner": "supervisor", "due": "2027-03-31"}],
}


def start_meeting(api_as: Any) -> tuple[int, int]:
    created = api_as("owner").post("/meetings", meeting_payload())
    assert created.status_code == 201, created.json
    assert set(created.json) >= {"id", "instance_id"}
    return int(created.json["id"]), int(created.json["instance_id"])


def test_minutes_are_drafted_confirmed_archived_and_their_items_tracked(doc_cast, api_as, app, tmp_path):
    meeting_id, instance_id = start_meeting(api_as)
    recorder = api_as("supervisor")
    assert open_task(recorder, "draft", instance_id) is not None
    assert open_task(api_as("contractor"), "draft", instance_id) is None
    assert api_as("contractor").post(f"/meetings/{meeting_id}/minutes", MINUTES).status_code == 403
    assert recorder.post(f"/meetings/{meeting_id}/minutes", MINUTES).status_code == 200
    # every participant confirms; one disagreement sends the draft back to the recorder
    act(api_as("contractor"), instance_id, "confirm", {"decision": "agree"})
    act(api_as("owner"), instance_id, "confirm", {"decision": "disagree", "opinion": "请写明巡检频次"})
    assert open_task(api_as("supervisor"), "confirm", instance_id) is None
    assert api_as("owner").get(f"/meetings/{meeting_id}").json["status"] == "drafting"
    minutes = dict(MINUTES, decisions=[*MINUTES["decisions"], "夏季每周巡检两次。"])
    assert recorder.post(f"/meetings/{meeting_id}/minutes", minutes).status_code == 200
    for who in ("contractor", "supervisor", "owner"):
        act(api_as(who), instance_id, "confirm", {"decision": "agree", "opinion": ""})
    items = api_as("contractor").get("/action-items?mine=1").json["items"]
    assert items == []   # still a draft until archived
    act(api_as("owner"), instance_id, "archive", {"comment": "归档"})
    meeting = api_as("owner").get(f"/meetings/{meeting_id}").json
    assert meeting["status"] == "archived" and meeting["document_id"]
    mine = api_as("contractor").get("/action-items?mine=1").json["items"]
    assert [(i["content"], i["status"], i["due"]) for i in mine] == [("提交空调改造变更申请", "open", "2027-03-20")]
    assert api_as("supervisor").post(f"/action-items/{mine[0]['id']}/done", {"note": "x"}).status_code == 403
    done = api_as("contractor").post(f"/action-items/{mine[0]['id']}/done", {"note": "已提交 BG-2027-0001"})
    assert done.status_code == 200 and done.json["status"] == "done"
    assert api_as("contractor").post(f"/action-items/{mine[0]['id']}/done", {}).status_code == 409
    document = api_as("manager").get(f"/documents/{meeting['document_id']}").json
    assert document["kind"] == "meeting_minutes" and document["status"] == "ready"
    pdf = api_as("contractor").get(f"/documents/{document['id']}/pdf")
    assert pdf.status_code == 200
    import os
    if os.environ.get("SAVE_PDF"):
        Path(os.environ["SAVE_PDF"]).write_bytes(pdf.data)   # to look at the pages while changing templates
    text = pdftext(pdf.data, tmp_path)
    for expected in ("会议纪要", "2027年第一季度运维工作例会", "会议时间", "2027年03月05日 09:30", "吴监理",
                     "会议议定事项如下", "三、夏季每周巡检两次", "提交空调改造变更申请", "孙运维", "2027年3月20日",
                     "参会人员确认", "系统代签", "签署证据页", "请写明巡检频次"):
        assert expected in text, expected
    assert re.search(r"—\s*1\s*—", text) and re.search(r"—\s*2\s*—", text)   # GB/T 9704 page numbers
    assert "NotoSerifCJK" in pdffonts(pdf.data, tmp_path).replace("-", "")


def test_a_recorder_or_participant_who_is_not_a_user_is_refused_and_nothing_starts(doc_cast, api_as, app):
    api = api_as("owner")
    no_recorder = api.post("/meetings", meeting_payload(recorder="nobody"))
    assert no_recorder.status_code == 422 and "recorder" in no_recorder.json["errors"]
    no_participant = api.post("/meetings", meeting_payload(participants=["contractor", "ghost"]))
    assert no_participant.status_code == 422 and "participants[1]" in no_participant.json["errors"]
    bad = api.post("/meetings", meeting_payload(kind="weekly", held_at="next tuesday", participants=[]))
    assert {"kind", "held_at", "participants"} <= set(bad.json["errors"])
    with app.app_context():
        for model in (Meeting, ProcessInstance, ActionItem):
            assert db.session.scalar(sa.select(sa.func.count()).select_from(model)) == 0


def test_draft_items_need_an_existing_owner_and_a_date(doc_cast, api_as, app):
    meeting_id, _ = start_meeting(api_as)
    bad = api_as("supervisor").post(f"/meetings/{meeting_id}/minutes", dict(
        MINUTES, action_items=[{"content": "x", "owner": "ghost", "due": "soon"}]))
    assert bad.status_code == 422
    assert {"action_items[0].owner", "action_items[0].due"} <= set(bad.json["errors"])
    assert api_as("supervisor").get(f"/meetings/{meeting_id}").json["status"] == "drafting"
