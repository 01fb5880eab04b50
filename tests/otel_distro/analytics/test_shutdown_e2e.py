"""SIGTERM loses no analytics event: under uvicorn (the app's lifespan shutdown writes the buffer) and in a plain
process run under ``opentelemetry-instrument`` (the distro's SIGTERM handler does). The flush interval is left
at 5 minutes, so only the shutdown path can have written the rows."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest

from tests.support import free_port

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent

APP = '''
from fastapi import FastAPI
from otel_distro.analytics import track_event

app = FastAPI()


@app.post("/track/{n}")
async def track(n: int) -> dict[str, bool]:
    return {"buffered": track_event("chat_message_sent", {"message_length": n}, user_id="user-1")}
'''

SCRIPT = '''
import os, signal, time
from otel_distro.analytics import track_event

for n in range(3):
    assert track_event("image_generated", {"prompt_length": n})
os.kill(os.getpid(), signal.SIGTERM)
time.sleep(30)
'''


def _env(tmp_path: Path) -> dict[str, str]:
    env = {
        **os.environ,
        "PYTHONPATH": str(tmp_path),
        "OTEL_PYTHON_DISTRO": "otel_distro",
        "OTEL_PYTHON_CONFIGURATOR": "otel_distro",
        "OTEL_TRACES_EXPORTER": "none",
        "OTEL_METRICS_EXPORTER": "none",
        "OTEL_LOGS_EXPORTER": "none",
        "OTEL_DISTRO_ANALYTICS_DATABASE_URL": f"sqlite:///{tmp_path / 'analytics.db'}",
        "XDG_DATA_HOME": str(tmp_path / "data"),
    }
    env.pop("PYTEST_CURRENT_TEST", None)
    return env


def _rows(tmp_path: Path) -> list[tuple[str, str, str]]:
    with sqlite3.connect(tmp_path / "analytics.db") as db:
        return list(db.execute("SELECT name, properties, source FROM analytics_events"))


def test_sigterm_under_uvicorn_writes_the_buffer(tmp_path: Path) -> None:
    (tmp_path / "tracked_app.py").write_text(APP)
    port = free_port()
    log = (tmp_path / "server.log").open("wb")
    process = subprocess.Popen([str(BIN / "opentelemetry-instrument"), str(BIN / "uvicorn"), "tracked_app:app",
                                "--port", str(port)], env=_env(tmp_path), cwd=tmp_path, stdout=log,
                               stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(base + "/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise AssertionError((tmp_path / "server.log").read_text()[-3000:])
            time.sleep(0.2)
        for n in range(5):
            assert httpx.post(f"{base}/track/{n}", timeout=10).json() == {"buffered": True}
        batch = {"events": [{"id": str(uuid.uuid4()), "name": "login", "properties": {"success": True}}]}
        assert httpx.post(f"{base}/analytics/events", json=batch, timeout=10).status_code == 202
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
        log.close()
    rows = _rows(tmp_path)
    assert sorted(json.loads(p)["message_length"] for name, p, _ in rows if name == "chat_message_sent") == [0, 1, 2,
                                                                                                           3, 4]
    assert [(name, source) for name, _, source in rows if name == "login"] == [("login", "browser")]


def test_sigterm_in_a_plain_process_writes_the_buffer(tmp_path: Path) -> None:
    (tmp_path / "job.py").write_text(SCRIPT)
    result = subprocess.run([str(BIN / "opentelemetry-instrument"), sys.executable, "job.py"], env=_env(tmp_path),
                            cwd=tmp_path, capture_output=True, timeout=60)
    assert result.returncode == -signal.SIGTERM, result.stderr.decode()[-3000:]
    assert sorted(json.loads(p)["prompt_length"] for _, p, _ in _rows(tmp_path)) == [0, 1, 2]


SIGTERM_WHILE_MAKING = '''
import os, signal, time
from otel_distro import analytics
from otel_distro.analytics import _tracker, track_event

assert track_event("first_event")
analytics.shutdown()  # a job's checkpoint: the next event makes the service afresh
made = _tracker.Analytics.__init__


def init(self, *args, **kwargs):
    os.kill(os.getpid(), signal.SIGTERM)  # the SIGTERM arrives while the service is being made
    made(self, *args, **kwargs)


_tracker.Analytics.__init__ = init
track_event("second_event")
time.sleep(30)
'''


def test_a_sigterm_while_the_service_is_being_made_still_ends_the_process(tmp_path: Path) -> None:
    (tmp_path / "job.py").write_text(SIGTERM_WHILE_MAKING)
    try:
        result = subprocess.run([str(BIN / "opentelemetry-instrument"), sys.executable, "job.py"],
                                env=_env(tmp_path), cwd=tmp_path, capture_output=True, timeout=25)
    except subprocess.TimeoutExpired:
        pytest.fail("the process hung in its SIGTERM handler (it waited for a lock its own thread held)")
    assert result.returncode == -signal.SIGTERM, result.stderr.decode()[-3000:]
    assert [name for name, _, _ in _rows(tmp_path)] == ["first_event"]
