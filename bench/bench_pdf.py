"""Signed documents: what the project adds to a bare WeasyPrint render, and whether a worker's memory grows.

``pdf_overhead_ratio``: the project's render + system signature + archive of a finished change order
(``documents.render_now``: layout from the database and the event log, locked-down fetcher, glyph
check, PAdES signature, file written by SHA-256, rows committed) ÷ bare WeasyPrint rendering the same
HTML (``HTML(string=html).write_pdf()``, defaults), steps interleaved one for one in the same run.

``pdf_rss_growth_mb``: VmRSS after 300 consecutive render + sign cycles in one process minus VmRSS
after the first 10 (the warm-up that loads fonts and libraries), as a long-running worker does.

Usage: python -m bench.bench_pdf --instance-dir DIR --out FILE
"""
from __future__ import annotations

import argparse
import gc
import statistics
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from bench.common import log, make_app, scaled, summary_ms, write_partial

PASSWORD = "Passw0rd!x"  # noqa: S105 (a throwaway benchmark database)


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def finished_change_order(app: Any) -> int:
    """A change order every party signed, its document row queued (not rendered): returns its id."""
    from app.cli.setup import ensure_signing_identity
    from app.database import write_transaction
    from app.extensions import db
    from app.models import ChangeOrder, HumanTask, Role, User
    from app.services import accounts, change_orders, tasks

    ensure_signing_identity(Path(app.config["SIGNING_KEY_PATH"]), Path(app.config["SIGNING_CERT_PATH"]))
    with app.app_context(), write_transaction():
        units = (("YW", "省政务云运维服务有限公司", "contractor"), ("JL", "恒信工程监理有限公司", "supervisor"),
                 ("SJ", "省政务服务和大数据中心", "owner"))
        for code, name, kind in units:
            accounts.create_unit(code, name, kind)
        for username, name, role, unit in (("contractor", "孙运维", Role.CONTRACTOR, "YW"),
                                           ("supervisor", "吴监理", Role.SUPERVISOR, "JL"),
                                           ("owner", "郑业主", Role.OWNER, "SJ")):
            accounts.create_user(username, name, PASSWORD, [role], unit)
    with app.app_context(), write_transaction():
        initiator = db.session.scalars(sa.select(User).where(User.username == "contractor")).one()
        order = change_orders.file(initiator, {
            "title": "机房精密空调改造", "project": "省政务云平台扩容工程",
            "reason": "原设计精密空调制冷量不足，夏季机房温度超过 27℃。\n经三方现场勘察确认需要改造。" * 3,
            "content": "一、更换两台精密空调；\n二、增加冷通道封闭；\n三、调整降水方案。" * 3,
            "amount": {"contract": "4800000", "change": "386000"},
            "parties": {"contractor": "YW", "supervisor": "JL", "owner": "SJ"}})
        order_id = order.id
    answer = {"decision": "agree", "opinion": "同意，按方案实施"}
    while True:
        with app.app_context():
            order = db.session.get(ChangeOrder, order_id)
            assert order is not None
            if order.status == "executable":
                assert order.document_id is not None
                return order.document_id
            open_tasks = list(db.session.scalars(sa.select(HumanTask).where(
                HumanTask.instance_id == order.instance_id, HumanTask.status == "open")))
            work = []
            for task in open_tasks:
                user = next(u for u in db.session.scalars(sa.select(User)) if tasks.may_act(u, task))
                work.append((user.id, task.id))
        for user_id, task_id in work:
            with app.app_context(), write_transaction():
                tasks.complete(db.session.get(User, user_id), task_id, answer)


def reset(app: Any, document_id: int) -> None:
    """Back to "queued" so the next render_now does the whole job again (the files stay, by hash)."""
    from app.database import write_transaction
    from app.extensions import db
    from app.models import Document, DocumentRevision
    with app.app_context(), write_transaction():
        db.session.execute(sa.delete(DocumentRevision).where(DocumentRevision.document_id == document_id))
        db.session.execute(sa.update(Document).where(Document.id == document_id)
                           .values(status="queued", sha256=None, progress=0))


def overhead(app: Any, document_id: int, n: int) -> dict[str, Any]:
    from weasyprint import HTML

    from app import pdf
    from app.extensions import db
    from app.models import Document
    from app.services import documents

    project, bare, pages = [], [], 0
    for i in range(n + 1):   # the first pair warms both paths up and is not counted
        reset(app, document_id)
        with app.app_context():
            t0 = time.perf_counter()
            documents.render_now(document_id)
            project_s = time.perf_counter() - t0
            document = db.session.get(Document, document_id)
            assert document is not None and document.status == "ready"
            pages = document.pages or 0
            html = pdf.html_for("change_order", documents._renderers["change_order"](document).context)
        t0 = time.perf_counter()
        HTML(string=html).write_pdf()
        bare_s = time.perf_counter() - t0
        if i:
            project.append(project_s)
            bare.append(bare_s)
    ratio = statistics.median(project) / statistics.median(bare)
    return {"ratio": ratio, "project": summary_ms(project), "bare_weasyprint": summary_ms(bare), "pages": pages,
            "method": f"{n} interleaved pairs after one warm-up pair; same HTML, same process"}


def rss_growth(app: Any, document_id: int, renders: int) -> dict[str, Any]:
    from app import pdf
    from app.extensions import db
    from app.models import Document
    from app.services import documents

    with app.app_context():
        document = db.session.get(Document, document_id)
        assert document is not None
        layout = documents._renderers["change_order"](document)
        identity = documents.system_identity()
        samples: dict[int, float] = {}
        t0 = time.perf_counter()
        for i in range(1, renders + 1):
            rendered = pdf.render(layout.template, layout.context)
            pdf.sign_system(rendered.data, identity, name="GovAssure", reason="bench", location="长沙")
            if i in (1, 10) or i % 50 == 0 or i == renders:
                gc.collect()
                samples[i] = round(rss_mb(), 1)
        seconds = time.perf_counter() - t0
    growth = samples[renders] - samples[10]
    return {"growth_mb": growth, "rss_mb_by_render": samples, "renders": renders,
            "seconds_per_render_and_sign": round(seconds / renders, 3)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--instance-dir", required=True, type=Path)
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args()

    log("pdf: setting up a signed-off change order")
    for folder in ("broker/queue", "broker/control"):   # the finished case queues its render (not consumed)
        (args.instance_dir / folder).mkdir(parents=True, exist_ok=True)
    app = make_app(f"sqlite:///{args.instance_dir / 'pdf.db'}", args.instance_dir)
    app.config["DOCUMENTS_RENDER_INLINE"] = False   # render_now is called (and timed) by the benchmark
    document_id = finished_change_order(app)
    log("pdf: pdf_overhead_ratio")
    ratio = overhead(app, document_id, scaled(15, 3))
    log(f"pdf: ratio {ratio['ratio']:.2f} (project {ratio['project']['median_ms']} ms, "
        f"bare {ratio['bare_weasyprint']['median_ms']} ms)")
    renders = scaled(300, 30)
    log(f"pdf: pdf_rss_growth_mb over {renders} renders")
    growth = rss_growth(app, document_id, renders)
    log(f"pdf: growth {growth['growth_mb']:.1f} MB")
    write_partial(args.out, {
        "pdf_overhead_ratio": {"value": round(ratio.pop("ratio"), 3), "goal": 1.5, "unit": "x", "detail": ratio},
        "pdf_rss_growth_mb": {"value": round(growth.pop("growth_mb"), 1), "goal": 20, "unit": "MB", "detail": growth},
    })


if __name__ == "__main__":
    main()
