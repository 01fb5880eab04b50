"""Libraries' stdlib logs come out as the collector's JSON lines; client faults are one rate-limited line each."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from aiohttp.http_exceptions import BadHttpMessage, BadStatusLine, InvalidHeader, LineTooLong

from collector.stdlib_logs import StdlibBridge, is_client_fault
from tests.support import ROOT, free_port, wait_healthy


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def logger() -> Iterator[tuple[logging.Logger, _Clock]]:
    clock = _Clock()
    bridge = StdlibBridge(window=10.0, clock=clock)
    log = logging.getLogger("aiohttp.server.test")
    log.propagate = False
    log.addHandler(bridge)
    try:
        yield log, clock
    finally:
        log.removeHandler(bridge)


def _raised(exc: BaseException) -> BaseException:
    try:
        raise exc
    except BaseException as caught:
        return caught


@pytest.mark.parametrize("exc", [BadHttpMessage("Invalid character in Content-Length:\n\n  b'x'\n  ^"),
                                 ConnectionResetError(104, "Connection reset by peer"), BrokenPipeError()])
def test_client_faults_are_recognised(exc: BaseException) -> None:
    assert is_client_fault(exc)


@pytest.mark.parametrize("exc", [ValueError("bug"), KeyError("x"), None])
def test_collector_errors_are_not_client_faults(exc: BaseException | None) -> None:
    assert not is_client_fault(exc)


def test_a_client_fault_is_one_line_then_rate_limited(logger: tuple[logging.Logger, _Clock]) -> None:
    log, clock = logger
    with structlog.testing.capture_logs() as logs:
        for _ in range(50):
            log.error("Error handling request from 10.0.0.7", exc_info=_raised(BadHttpMessage("Invalid method")))
        clock.now = 11.0
        log.error("Error handling request from 10.0.0.7", exc_info=_raised(BadHttpMessage("Invalid method")))
    assert [e["event"] for e in logs] == ["client_fault", "client_fault"]
    first, second = logs
    assert first["kind"] == "BadHttpMessage" and first["log_level"] == "warning"
    assert "Invalid method" in first["error"] and "\n" not in first["error"]
    assert (first["suppressed"], second["suppressed"]) == (0, 49)


def test_the_client_bytes_are_not_echoed(logger: tuple[logging.Logger, _Clock]) -> None:
    log, _ = logger
    exc = BadHttpMessage("Invalid character in header:\n\n    b'Authorization: Bearer s3cr3t'\n    ^")
    with structlog.testing.capture_logs() as logs:
        log.error("Error handling request", exc_info=_raised(exc))
    assert "s3cr3t" not in json.dumps(logs)


def test_kinds_are_limited_separately(logger: tuple[logging.Logger, _Clock]) -> None:
    log, _ = logger
    with structlog.testing.capture_logs() as logs:
        log.error("a", exc_info=_raised(BadHttpMessage("x")))
        log.error("b", exc_info=_raised(ConnectionResetError()))
    assert [e["kind"] for e in logs] == ["BadHttpMessage", "ConnectionResetError"]


def test_other_records_keep_their_level_and_a_single_line_message(logger: tuple[logging.Logger, _Clock]) -> None:
    log, _ = logger
    with structlog.testing.capture_logs() as logs:
        log.warning("first line\nsecond line")
        log.error("Task exception was never retrieved", exc_info=_raised(ValueError("bug")))
    assert [(e["event"], e["log_level"]) for e in logs] == [
        ("first line", "warning"), ("Task exception was never retrieved", "error")]
    assert logs[1]["exc_info"][0] is ValueError  # rendered as one JSON string field by the collector's renderer


def _hostile(port: int, rounds: int) -> None:
    payloads = [b"GARBAGE\r\n\r\n", b"POST /v1/traces HTTP/1.1\r\nContent-Length: abc\r\n\r\n",
                b"POST /v1/logs HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
                b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"]
    for _ in range(rounds):
        for payload in payloads:
            with socket.create_connection(("127.0.0.1", port)) as s:
                s.sendall(payload)
                s.settimeout(2)
                with contextlib.suppress(OSError):
                    s.recv(100)
        with socket.create_connection(("127.0.0.1", port)) as s:  # a reset mid-body
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.sendall(b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nab")


@pytest.mark.slow
def test_hostile_requests_leave_only_structured_rate_limited_lines(tmp_path: Path) -> None:
    http, health = free_port(), free_port()
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"""
extensions: {{health_check: {{endpoint: "127.0.0.1:{health}"}}}}
receivers: {{otlp: {{protocols: {{http: {{endpoint: "127.0.0.1:{http}"}}}}}}}}
exporters: {{debug: }}
service:
  extensions: [health_check]
  telemetry: {{metrics: {{level: none}}}}
  pipelines: {{traces: {{receivers: [otlp], exporters: [debug]}}}}
""")
    proc = subprocess.Popen([sys.executable, "-m", "otel_distro.cli", "collector", "run", "--config", str(cfg)],
                            stderr=subprocess.PIPE, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        wait_healthy(health)
        _hostile(http, 100)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    lines = err.decode().splitlines()
    records: list[dict[str, Any]] = [json.loads(line) for line in lines]  # every line is one JSON object
    faults = [r for r in records if r["message"] == "client_fault"]
    assert faults, "the bad requests were not reported at all"
    assert len(faults) <= 5  # 500 hostile requests, one line per kind within the rate window
    assert all(r["level"] == "warning" and r["kind"] for r in faults)


def test_the_client_bytes_are_not_echoed_from_the_real_parser_either() -> None:
    # aiohttp's parser puts the start of a too-long or bad header value in its message: a credential, here
    secret = b"s3cr3t-token"
    requests = [b"GET / HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + secret + b"A" * 9000 + b"\r\n\r\n",
                b"GET /?token=" + secret + b" HTTP/1.1\r\nHost: x\r\nX-Api-Key: " + secret + b"\x01\r\n\r\n",
                b"GET /?token=" + secret + b" HTTP/1.1 junk\r\n\r\n"]
    bridge = StdlibBridge()
    server_log = logging.getLogger("aiohttp.server")
    server_log.addHandler(bridge)

    async def scenario() -> None:
        from aiohttp import web  # noqa: PLC0415

        app = web.Application()
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        try:
            for request in requests:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.write(request)
                await reader.read()  # the 400 answer, then the server closes
                writer.close()
        finally:
            await runner.cleanup()

    try:
        with structlog.testing.capture_logs() as logs:
            asyncio.run(scenario())
    finally:
        server_log.removeHandler(bridge)
    faults = [e for e in logs if e["event"] == "client_fault"]
    assert {e["kind"] for e in faults} >= {"LineTooLong"}
    assert secret.decode() not in json.dumps(faults, default=str)


@pytest.mark.parametrize("exc", [LineTooLong(b"Bearer s3cr3t...", 8190), InvalidHeader(b"X-Api-Key: s3cr3t"),
                                 BadStatusLine("GET /?token=s3cr3t HTTP/1.1 junk")])
def test_the_pure_python_parsers_messages_lose_their_bytes_too(
    logger: tuple[logging.Logger, _Clock], exc: BaseException
) -> None:
    log, _ = logger
    with structlog.testing.capture_logs() as logs:
        log.error("Error handling request", exc_info=_raised(exc))
    [fault] = logs
    assert "s3cr3t" not in json.dumps(fault, default=str) and fault["error"].startswith("400 ")
