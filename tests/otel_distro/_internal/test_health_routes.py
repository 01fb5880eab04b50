"""/health answers from the monitor's last run; /health/detailed is for operators (loopback or a token)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from starlette.testclient import TestClient

from otel_distro import add_health_check
from otel_distro._internal import state
from otel_distro._internal.health_routes import is_operator
from otel_distro.testing import OtelCapture

TOKEN = "t0ken-for-operators-0123456789"


def _configure(**changes: Any) -> None:
    state.set_settings(dataclasses.replace(state.settings(), **changes))


@pytest.fixture
def calls(otel: OtelCapture) -> list[int]:
    made: list[int] = []

    def database() -> None:
        made.append(1)
        raise ConnectionError("could not connect to server: Connection refused")

    add_health_check("db", database)
    add_health_check("cache", lambda: None, required=False)
    return made


def _client(otel: OtelCapture, host: str) -> Iterator[TestClient]:
    with TestClient(otel.instrument(FastAPI()), client=(host, 40000)) as client:
        yield client


@pytest.fixture
def local(otel: OtelCapture, calls: list[int]) -> Iterator[TestClient]:
    yield from _client(otel, "127.0.0.1")


@pytest.fixture
def remote(otel: OtelCapture, calls: list[int]) -> Iterator[TestClient]:
    yield from _client(otel, "203.0.113.7")


def test_health_answers_from_the_last_run_without_running_a_check(local: TestClient, calls: list[int]) -> None:
    ran = len(calls)
    responses = [local.get("/health") for _ in range(20)]
    assert len(calls) == ran, "no check runs on the request"
    assert {r.status_code for r in responses} == {503}
    assert responses[0].json() == {"status": "fail", "checks": {"db": "fail", "cache": "ok"}}
    assert responses[0].headers["cache-control"] == "no-store"


def test_health_is_200_when_only_an_optional_check_fails(otel: OtelCapture) -> None:
    add_health_check("search", lambda: (_ for _ in ()).throw(OSError("down")), required=False)
    for client in _client(otel, "198.51.100.1"):
        response = client.get("/health")
        assert response.status_code == 200
        assert response.json() == {"status": "ok", "checks": {"search": "fail"}}


def test_detailed_report_for_a_loopback_client(local: TestClient) -> None:
    response = local.get("/health/detailed")
    assert response.status_code == 503
    body = response.json()
    db = body["checks"]["db"]
    assert db["status"] == "fail" and db["required"] is True
    assert db["last_error"] == "ConnectionError: could not connect to server: Connection refused"
    assert db["last_success"] is None and db["last_failure"] is not None and db["latency_ms"] >= 0
    assert body["checks"]["cache"]["status"] == "ok" and body["checks"]["cache"]["last_success"] is not None
    assert body["service"]["name"] == "test"
    assert body["distro_version"] and body["uptime_s"] > 0 and body["last_run"]
    system = body["system"]
    assert 0 <= system["cpu_percent"] <= 100 and 0 < system["memory"]["percent"] <= 100
    assert system["disk"]["total_bytes"] > 0 and 0 <= system["disk"]["percent"] <= 100
    assert system["process"]["rss_bytes"] > 0
    assert "Traceback" not in response.text and "File " not in response.text


def test_detailed_is_refused_to_a_remote_client_without_a_token(remote: TestClient) -> None:
    response = remote.get("/health/detailed")
    assert response.status_code == 403
    assert response.json() == {
        "error": "/health/detailed is for operators: served to loopback clients only (or set OTEL_DISTRO_HEALTH_TOKEN)"
    }
    assert "db" not in response.text
    assert remote.get("/health").status_code == 503, "the summary stays public"


def test_a_token_opens_detailed_to_remote_clients(otel: OtelCapture, calls: list[int]) -> None:
    _configure(health_token=TOKEN)
    for client in _client(otel, "203.0.113.7"):
        assert client.get("/health/detailed", headers={"Authorization": f"Bearer {TOKEN}"}).json()["checks"]["db"]
        wrong = client.get("/health/detailed", headers={"Authorization": "Bearer not-the-token-0123456789"})
        assert wrong.status_code == 401 and wrong.headers["www-authenticate"].startswith("Bearer")
        assert client.get("/health/detailed").status_code == 401


def test_a_request_through_a_proxy_is_not_local(local: TestClient) -> None:
    response = local.get("/health/detailed", headers={"X-Forwarded-For": "203.0.113.7"})
    assert response.status_code == 403


@pytest.mark.parametrize(
    ("client", "headers", "expected"),
    [
        (("127.0.0.1", 1), [], True),
        (("127.8.9.10", 1), [], True),
        (("::1", 1), [], True),
        (("::ffff:127.0.0.1", 1), [], True),
        (("10.0.0.5", 1), [], False),
        (("2001:db8::1", 1), [], False),
        (("testclient", 1), [], False),
        (None, [], False),
        (("127.0.0.1", 1), [(b"forwarded", b"for=203.0.113.7")], False),
        (("127.0.0.1", 1), [(b"x-real-ip", b"203.0.113.7")], False),
    ],
)
def test_who_counts_as_an_operator(client: tuple[str, int] | None, headers: list[Any], expected: bool) -> None:
    assert is_operator({"type": "http", "client": client, "headers": headers}) is expected
