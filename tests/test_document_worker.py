"""Long documents render in the background worker: the real embedded (filesystem-broker) Celery path."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import PROJECT
from tests.docs_helpers import act, change_payload, verify


def test_the_worker_renders_signs_and_archives_while_the_page_shows_progress(doc_cast, api_as, app, login, client,
                                                                            instance_dir: Path):
    app.config["DOCUMENTS_RENDER_INLINE"] = False
    for folder in ("broker/queue", "broker/control"):
        (instance_dir / folder).mkdir(parents=True, exist_ok=True)
    worker = None
    try:
        created = api_as("contractor").post("/change-orders", change_payload()).json
        for step in ("survey", "sign"):
            for who in ("contractor", "supervisor", "owner"):
                act(api_as(who), created["instance_id"], step, {"decision": "agree"})
            if step == "survey":
                act(api_as("owner"), created["instance_id"], "owner_review", {"decision": "agree"})
        document_id = api_as("owner").get(f"/change-orders/{created['id']}").json["document_id"]
        # the request that completed the case only queued the render
        queued = api_as("owner").get(f"/documents/{document_id}").json
        assert queued["status"] == "queued" and queued["sha256"] is None
        login("owner")
        page = client.get(f"/documents/{document_id}").get_data(as_text=True)
        assert 'id="doc-progress"' in page and "document-progress.js" in page
        assert client.get(f"/documents/{document_id}/status").json["status"] == "queued"
        assert api_as("owner").get(f"/documents/{document_id}/pdf").status_code == 409

        env = {**os.environ, "APP_INSTANCE_PATH": str(instance_dir),
               "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"]}
        env.pop("REDIS_URL", None)
        worker = subprocess.Popen(  # noqa: S603  (our interpreter, fixed arguments)
            [sys.executable, "-m", "celery", "-A", "wsgi.celery_app", "worker", "--pool=threads", "--concurrency=1",
             "--loglevel=WARNING", "--without-heartbeat", "--without-mingle", "--without-gossip"],
            cwd=PROJECT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + 120
        status = queued
        while time.monotonic() < deadline and status["status"] not in ("ready", "failed"):
            time.sleep(0.3)
            status = client.get(f"/documents/{document_id}/status").json
        assert status["status"] == "ready", status
        assert status["progress"] == 100 and len(status["sha256"]) == 64
        data = api_as("owner").get(f"/documents/{document_id}/pdf").data
        body = verify(api_as("owner"), data).json
        assert body["valid"] is True and body["matches_archive"] is True
    finally:
        app.config["DOCUMENTS_RENDER_INLINE"] = True
        if worker is not None:
            worker.terminate()
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
