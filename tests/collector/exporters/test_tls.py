"""The OTLP exporters reach a TLS receiver, trusting its certificate through ``tls.ca_file``."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from collector.testing import running_collector
from tests.support import free_port


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for localhost / 127.0.0.1 (openssl CLI)."""
    d = tmp_path_factory.mktemp("tls")
    cert, key = d / "cert.pem", d / "key.pem"
    try:
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
                        "-out", str(cert), "-days", "1", "-subj", "/CN=localhost",
                        "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                       check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"openssl cannot make a test certificate: {exc}")
    return cert, key


def backend(port: int, out: Path, protocol: str, cert: Path, key: Path) -> dict[str, Any]:
    return {
        "receivers": {"otlp": {"protocols": {protocol: {
            "endpoint": f"127.0.0.1:{port}", "tls": {"cert_file": str(cert), "key_file": str(key)}}}}},
        "exporters": {"file": {"path": str(out), "flush_interval": 0}},
        "service": {"pipelines": {"logs": {"receivers": ["otlp"], "exporters": ["file"]}},
                    "telemetry": {"metrics": {"level": "none"}}},
    }


def front(port: int, name: str, exporter: dict[str, Any]) -> dict[str, Any]:
    return {
        "receivers": {"otlp": {"protocols": {"http": {"endpoint": f"127.0.0.1:{port}"}}}},
        "exporters": {name: exporter},
        "service": {"pipelines": {"logs": {"receivers": ["otlp"], "exporters": [name]}},
                    "telemetry": {"metrics": {"level": "none"}}},
    }


BODY = b'{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"stringValue":"over tls"}}]}]}]}'


@pytest.mark.parametrize(("protocol", "name", "endpoint"), [
    ("http", "otlphttp", "https://localhost:{port}"),
    ("grpc", "otlp", "localhost:{port}"),
])
def test_exporters_speak_tls_with_a_private_ca(tmp_path: Path, certificate: tuple[Path, Path], protocol: str,
                                              name: str, endpoint: str) -> None:
    cert, key = certificate
    front_port, back_port = free_port(), free_port()
    out = tmp_path / "out.jsonl"
    exporter = {"endpoint": endpoint.format(port=back_port), "tls": {"ca_file": str(cert)}}
    with running_collector(backend(back_port, out, protocol, cert, key)), \
            running_collector(front(front_port, name, exporter)) as c:
        r = httpx.post(f"http://127.0.0.1:{front_port}/v1/logs", content=BODY,
                       headers={"Content-Type": "application/json"})
        assert r.status_code == 200
    assert c.telemetry.value("otelcol_exporter_sent_log_records") == 1
    (line,) = out.read_text().splitlines()
    assert json.loads(line)["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]["body"]["stringValue"] == "over tls"


def test_an_untrusted_certificate_is_not_accepted(tmp_path: Path, certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    front_port, back_port = free_port(), free_port()
    exporter = {"endpoint": f"https://localhost:{back_port}", "retry_on_failure": {"enabled": False}}
    with running_collector(backend(back_port, tmp_path / "out.jsonl", "http", cert, key)), \
            running_collector(front(front_port, "otlphttp", exporter)) as c:
        httpx.post(f"http://127.0.0.1:{front_port}/v1/logs", content=BODY, headers={"Content-Type": "application/json"})
    assert c.telemetry.value("otelcol_exporter_send_failed_log_records") == 1
    assert not (tmp_path / "out.jsonl").read_text()
