"""Routes the distro adds to FastAPI apps: /health, /health/detailed, /metrics (honest with several workers)."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from starlette.testclient import TestClient

from otel_distro._internal import fastapi_app, health, workers
from otel_distro.testing import OtelCapture


def test_metrics_route_is_absent_when_this_process_has_no_prometheus_reader(otel: OtelCapture) -> None:
    app = otel.instrument(FastAPI())
    response = TestClient(app).get("/metrics")
    assert response.status_code == 404
    assert "not configured" in response.text


def test_metrics_route_refuses_to_report_one_workers_share_as_the_total(
    otel: OtelCapture, monkeypatch: pytest.MonkeyPatch
) -> None:
    class FakeRuntime:
        prometheus = object()
        settings = fastapi_app.state.settings()

    monkeypatch.setattr(fastapi_app.setup, "runtime", lambda: FakeRuntime())
    monkeypatch.setattr(workers, "worker_count", lambda: 4)
    response = TestClient(otel.instrument(FastAPI())).get("/metrics")

    assert response.status_code == 503
    assert "4 workers" in response.text and "collector" in response.text


def test_detailed_health_reports_each_check(otel: OtelCapture) -> None:
    def broken() -> None:
        raise ConnectionError("db down")

    health.add_health_check("always_fails", broken)
    with TestClient(otel.instrument(FastAPI()), client=("127.0.0.1", 50000)) as client:
        response = client.get("/health/detailed")
        liveness = client.get("/health")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "fail"
    assert body["checks"]["always_fails"]["status"] == "fail"
    assert body["checks"]["always_fails"]["last_error"] == "ConnectionError: db down"
    assert liveness.status_code == 503
    assert liveness.json() == {"status": "fail", "checks": {"always_fails": "fail"}}


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["uvicorn", "app:app"], 1),
        (["uvicorn", "app:app", "--workers", "4"], 4),
        (["uvicorn", "app:app", "--workers=3"], 3),
        (["gunicorn", "-w", "2", "-k", "uvicorn.workers.UvicornWorker", "app:app"], 2),
        (["uvicorn", "--workers", "many"], 1),
    ],
)
def test_worker_count_from_the_command_line(argv: list[str], expected: int) -> None:
    assert workers.workers_from_command_line(argv) == expected


@pytest.mark.parametrize(
    ("argv", "environ", "role"),
    [
        (["/venv/bin/python", "/venv/bin/uvicorn", "app:app"], {}, "app"),
        (["/venv/bin/python", "/venv/bin/uvicorn", "app:app", "--workers", "2"], {}, "supervisor"),
        (["python3", "-m", "uvicorn", "app:app", "--workers=4"], {}, "supervisor"),
        (["python3", "-X", "dev", "-m", "uvicorn", "app:app", "--reload"], {}, "supervisor"),
        (["/venv/bin/python", "/venv/bin/uvicorn", "app:app"], {"WEB_CONCURRENCY": "3"}, "supervisor"),
        (["/venv/bin/python", "/venv/bin/uvicorn", "app:app", "--workers", "1"], {"WEB_CONCURRENCY": "3"}, "app"),
        (["python", "-c", "from multiprocessing.spawn import spawn_main; spawn_main(tracker_fd=5, pipe_handle=7)",
          "--multiprocessing-fork"], {}, "app"),
        (["python", "-c", "from multiprocessing.resource_tracker import main;main(5)"], {}, "helper"),
        (["/venv/bin/python", "/venv/bin/gunicorn", "-w", "2", "-k", "uvicorn.workers.UvicornWorker", "app:app"], {},
         "app"),
        (["python", "manage.py", "--workers", "2"], {}, "app"),
    ],
)
def test_process_role_from_the_original_command_line(argv: list[str], environ: dict[str, str], role: str) -> None:
    assert workers.process_role(argv, environ) == role
