"""Overload, then idle: the collector refuses (503 + Retry-After) while it holds more data than the memory
limiter allows, and accepts again the moment that data is sent on — whatever the process's RSS."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import psutil
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from collector.memory import LEDGER
from collector.testing import running_collector
from tests.support import free_port

PB = {"Content-Type": "application/x-protobuf"}
MIB = 1024 * 1024


class Backend:
    """An OTLP/HTTP backend that answers nothing until `open` is set."""

    def __init__(self) -> None:
        self.open = threading.Event()
        self.received = 0
        backend = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["Content-Length"]))
                backend.open.wait(60)
                backend.received += 1
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]


@pytest.fixture
def backend() -> Iterator[Backend]:
    b = Backend()
    thread = threading.Thread(target=b.server.serve_forever, daemon=True)
    thread.start()
    yield b
    b.open.set()
    b.server.shutdown()
    b.server.server_close()


def body(n: int) -> bytes:
    req = ExportTraceServiceRequest()
    ss = req.resource_spans.add().scope_spans.add()
    for i in range(n):
        ss.spans.add(name=f"GET /items/{i}", trace_id=b"\x01" * 16, span_id=b"\x02" * 8)
    return req.SerializeToString()


def config(port: int, backend: Backend) -> dict[str, Any]:
    return {
        "receivers": {"otlp": {"protocols": {"http": {"endpoint": f"127.0.0.1:{port}"}}}},
        "processors": {"memory_limiter": {"limit_mib": 1, "spike_limit_mib": 0}},  # refuse above 0.8 MiB held
        "exporters": {"otlphttp": {"endpoint": f"http://127.0.0.1:{backend.port}", "compression": "none",
                                   "timeout": "120s", "sending_queue": {"num_consumers": 1}}},
        "service": {"pipelines": {"traces": {"receivers": ["otlp"], "processors": ["memory_limiter"],
                                             "exporters": ["otlphttp"]}},
                    "telemetry": {"metrics": {"level": "none"}}},
    }


def test_overload_then_idle_accepts_again_at_once(backend: Backend) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/v1/traces"
    request = body(3000)  # ~100 KB
    with running_collector(config(port, backend)):
        answers = []
        for _ in range(40):  # the backend hangs: the sending queue fills the memory budget
            answers.append(httpx.post(url, content=request, headers=PB, timeout=30))
            if answers[-1].status_code == 503:
                break
        refused = answers[-1]
        assert refused.status_code == 503
        assert int(refused.headers["Retry-After"]) >= 1
        assert all(a.status_code == 200 for a in answers[:-1])
        accepted = len(answers) - 1
        assert LEDGER.held() == accepted * len(request)  # in the queue, or being sent
        assert LEDGER.held() + len(request) > 0.8 * MIB  # the refused one would have taken it over
        assert set(LEDGER.by_component()) == {"exporter/otlphttp/traces"}

        backend.open.set()  # the backend recovers: the queue drains
        for _ in range(10_000):
            if LEDGER.held() == 0:
                break
            threading.Event().wait(0.01)
        assert LEDGER.held() == 0
        assert psutil.Process().memory_info().rss > MIB  # far above the limit, and it does not matter
        again = httpx.post(url, content=request, headers=PB, timeout=30)  # first try, no waiting out a period
        assert again.status_code == 200
    assert backend.received == accepted + 1
    assert LEDGER.held() == 0
