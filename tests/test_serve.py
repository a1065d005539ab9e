"""`flask serve` starts the web app and the background worker with its scheduler, and stops both."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import PROJECT

FLASK = [sys.executable, "-m", "flask", "--app", "wsgi"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def instance_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env["APP_INSTANCE_PATH"] = str(tmp_path / "instance")
    subprocess.run([*FLASK, "init"], cwd=PROJECT, env=env, check=True, capture_output=True, timeout=120)
    return env


def test_serve_runs_web_worker_and_scheduler_and_stops_them(instance_env: dict[str, str]) -> None:
    port = free_port()
    proc = subprocess.Popen([*FLASK, "serve", "--port", str(port), "--web-workers", "1"], cwd=PROJECT,
                            env=instance_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        status = None
        while time.monotonic() < deadline and status != 200:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=2) as response:  # noqa: S310
                    status = response.status
            except OSError:
                time.sleep(0.5)
        assert status == 200, "the web app did not answer"
        # The worker answers a ping over the embedded (filesystem) broker, and its scheduler ticks.
        ping = None
        for _ in range(20):
            ping = subprocess.run([sys.executable, "-m", "celery", "-A", "wsgi.celery_app", "inspect", "ping",
                                   "--timeout", "2"], cwd=PROJECT, env=instance_env, capture_output=True,
                                  text=True, timeout=60)
            if "pong" in ping.stdout:
                break
            time.sleep(1)
        assert ping is not None and "pong" in ping.stdout, ping.stdout + ping.stderr
        schedule = Path(instance_env["APP_INSTANCE_PATH"]) / "celerybeat-schedule"
        assert any(p.name.startswith(schedule.name) for p in schedule.parent.iterdir()), "beat did not start"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert proc.returncode == 0
