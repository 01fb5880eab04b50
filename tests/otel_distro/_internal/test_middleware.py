"""Request context: request ids kept or made, returned, bound to logs and the span; quiet paths; errors."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.responses import JSONResponse
from opentelemetry.trace import SpanKind, StatusCode
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.testclient import TestClient

from otel_distro._internal.middleware import is_sane_request_id, new_request_id
from otel_distro._internal.scrub import install_client_id_check, scrubbing_hooks
from otel_distro.settings import Settings
from otel_distro.testing import OtelCapture


@pytest.fixture
def app(otel: OtelCapture) -> FastAPI:
    app = FastAPI()

    @app.get("/hello/{name}")
    async def hello(name: str) -> dict[str, str]:
        return {"hello": name}

    @app.get("/boom")
    async def boom() -> None:
        raise ValueError("boom")

    return otel.instrument(app)


@pytest.mark.parametrize("value", ["abc", "0f8fad5b-d9cb-469f-a165-70867728950e", "req.1:2_3", "A" * 128])
def test_sane_request_ids(value: str) -> None:
    assert is_sane_request_id(value)


@pytest.mark.parametrize("value", ["", "-leading-dash", "has space", "semi;colon", "A" * 129, "<script>", "é"])
def test_insane_request_ids(value: str) -> None:
    assert not is_sane_request_id(value)


def test_new_request_ids_are_sane_and_distinct() -> None:
    ids = {new_request_id() for _ in range(100)}
    assert len(ids) == 100 and all(is_sane_request_id(i) for i in ids)


def test_a_sane_client_request_id_is_kept_returned_logged_and_on_the_span(app: FastAPI, otel: OtelCapture) -> None:
    response = TestClient(app).get("/hello/ada", headers={"X-Request-ID": "client-id-1"})

    assert response.headers["x-request-id"] == "client-id-1"
    span = otel.span("GET /hello/{name}")
    assert (span.attributes or {})["request_id"] == "client-id-1"
    [line] = [e for e in otel.logs if e["message"] == "request_finished"]
    assert line["request_id"] == "client-id-1"
    assert (line["method"], line["route"], line["status"], line["path"]) == ("GET", "/hello/{name}", 200, "/hello/ada")
    assert line["duration_ms"] >= 0


def test_an_insane_client_request_id_is_replaced(app: FastAPI, otel: OtelCapture) -> None:
    response = TestClient(app).get("/hello/ada", headers={"X-Request-ID": "bad id; drop table"})

    returned = response.headers["x-request-id"]
    assert returned != "bad id; drop table" and is_sane_request_id(returned)


@pytest.fixture
def scrubbing_on() -> Iterator[None]:
    restore = install_client_id_check(scrubbing_hooks(Settings()))
    yield
    restore()


@pytest.mark.parametrize("value", ["4111111111111111", "123-45-6789", "DE89370400440532013000", "05321234567"])
def test_a_client_request_id_carrying_personal_data_is_replaced_not_passed_on(
    app: FastAPI, otel: OtelCapture, scrubbing_on: None, value: str
) -> None:
    """Request ids are never scrubbed (they correlate everything), so one the scrubber would redact is not taken."""
    assert is_sane_request_id(value)
    response = TestClient(app).get("/hello/ada", headers={"X-Request-ID": value})
    returned = response.headers["x-request-id"]
    assert returned != value and is_sane_request_id(returned)
    assert (otel.span("GET /hello/{name}").attributes or {})["request_id"] == returned
    assert all(value not in str(line) for line in otel.logs)


def test_an_ordinary_client_request_id_is_kept_with_scrubbing_on(
    app: FastAPI, otel: OtelCapture, scrubbing_on: None
) -> None:
    uuid = "0f8fad5b-d9cb-469f-a165-70867728950e"
    assert TestClient(app).get("/hello/ada", headers={"X-Request-ID": uuid}).headers["x-request-id"] == uuid


def test_traceparent_from_the_client_is_honoured(app: FastAPI, otel: OtelCapture) -> None:
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    TestClient(app).get("/hello/ada", headers={"traceparent": f"00-{trace_id}-00f067aa0ba902b7-01"})

    assert otel.trace_id(otel.span("GET /hello/{name}")) == trace_id
    assert all(e["trace_id"] == trace_id for e in otel.logs if e["message"] == "request_finished")


def test_health_and_metrics_are_quiet(app: FastAPI, otel: OtelCapture) -> None:
    with TestClient(app) as client:  # the lifespan runs the health monitor's first run
        assert client.get("/health").json() == {"status": "ok", "checks": {}}
        client.get("/metrics")

    assert otel.spans() == []
    assert [e for e in otel.logs if e["message"] == "request_finished"] == []


def test_an_unhandled_error_is_logged_with_the_exception_and_answered_with_the_request_id(
    app: FastAPI, otel: OtelCapture
) -> None:
    response = TestClient(app, raise_server_exceptions=False).get("/boom", headers={"X-Request-ID": "r-9"})

    assert response.status_code == 500
    assert response.headers["x-request-id"] == "r-9"
    [line] = [e for e in otel.logs if e["message"] == "request_failed"]
    assert line["level"] == "error" and line["error_type"] == "ValueError" and line["request_id"] == "r-9"
    assert line["trace_id"] == otel.trace_id(otel.span("GET /boom"))


def test_the_servers_own_record_of_an_already_logged_error_is_dropped(app: FastAPI, otel: OtelCapture) -> None:
    """uvicorn logs "Exception in ASGI application" outside any span after the middleware re-raises: without the
    dedupe every failure would reach the log store and Sentry twice, once with no trace or request id."""
    with pytest.raises(ValueError) as caught:
        TestClient(app).get("/boom")
    logging.getLogger("uvicorn.error").error("Exception in ASGI application", exc_info=caught.value)
    try:
        raise RuntimeError("unrelated")
    except RuntimeError as other:
        logging.getLogger("uvicorn.error").error("Exception in ASGI application", exc_info=other)

    failures = [e for e in otel.logs if e["level"] == "error"]
    assert [e["message"] for e in failures] == ["request_failed", "Exception in ASGI application"]
    assert failures[0]["trace_id"] == otel.trace_id(otel.span("GET /boom"))
    assert "unrelated" in str(failures[1]["exception"])


def test_an_app_error_handler_still_answers(otel: OtelCapture) -> None:
    app = FastAPI()

    @app.exception_handler(Exception)
    async def handler(_: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=500)

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("custom")

    otel.instrument(app)
    response = TestClient(app, raise_server_exceptions=False).get("/boom")

    assert response.status_code == 500
    assert response.json() == {"error": "custom"}


def test_the_app_keeps_its_own_health_route(otel: OtelCapture) -> None:
    app = FastAPI()

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"mine": "yes"}

    otel.instrument(app)
    assert TestClient(app).get("/health").json() == {"mine": "yes"}


def test_request_start_is_logged_at_debug_with_the_ids(app: FastAPI, otel: OtelCapture) -> None:
    TestClient(app).get("/hello/ada", headers={"X-Request-ID": "start-1"})

    [started] = [e for e in otel.logs if e["message"] == "request_started"]
    assert started["level"] == "debug"
    assert started["request_id"] == "start-1" and len(started["trace_id"]) == 32


def test_the_server_span_carries_the_stable_http_semantic_conventions(app: FastAPI, otel: OtelCapture) -> None:
    TestClient(app).get("/hello/ada?lang=en", headers={"User-Agent": "spec/1.0", "X-Request-ID": "r-1"})

    [span] = otel.spans()  # one span: no FastAPI built-in telemetry beside it
    assert span.instrumentation_scope is not None and span.instrumentation_scope.name == "otel_distro.http"
    assert span.name == "GET /hello/{name}"
    assert span.kind is SpanKind.SERVER
    assert dict(span.attributes or {}) == {
        "http.request.method": "GET",
        "url.scheme": "http",
        "url.path": "/hello/ada",
        "url.query": "lang=en",
        "network.protocol.version": "1.1",
        "server.address": "testserver",
        "user_agent.original": "spec/1.0",
        "request_id": "r-1",
        "http.route": "/hello/{name}",
        "http.response.status_code": 200,
    }
    assert span.status.status_code is StatusCode.UNSET


def test_an_unhandled_error_marks_the_span_and_records_the_exception(app: FastAPI, otel: OtelCapture) -> None:
    TestClient(app, raise_server_exceptions=False).get("/boom")

    span = otel.span("GET /boom")
    attributes = dict(span.attributes or {})
    assert attributes["http.response.status_code"] == 500 and attributes["error.type"] == "ValueError"
    assert span.status.status_code is StatusCode.ERROR
    [event] = span.events
    assert event.name == "exception"
    assert (event.attributes or {})["exception.type"] == "ValueError"
    assert str((event.attributes or {})["exception.stacktrace"]).startswith("Traceback (most recent call last):")


def test_a_client_error_is_not_a_span_error(app: FastAPI, otel: OtelCapture) -> None:
    TestClient(app).get("/nowhere")

    [span] = otel.spans()
    assert span.name == "GET"
    assert (span.attributes or {})["http.response.status_code"] == 404
    assert "error.type" not in (span.attributes or {})
    assert span.status.status_code is StatusCode.UNSET


def test_the_request_duration_is_recorded_once_per_request(app: FastAPI, otel: OtelCapture) -> None:
    TestClient(app).get("/hello/ada")

    [point] = otel.metric_points("http.server.request.duration")
    assert point.count == 1
    assert dict(point.attributes) == {
        "http.request.method": "GET",
        "url.scheme": "http",
        "http.response.status_code": 200,
        "http.route": "/hello/{name}",
    }


def test_the_upstream_instrumentation_can_be_chosen_instead(otel: OtelCapture) -> None:
    from otel_distro._internal import state  # noqa: PLC0415
    from otel_distro.settings import Settings  # noqa: PLC0415

    previous = state.settings()
    state.set_settings(Settings(http_instrumentation="upstream"))
    try:
        app = FastAPI()

        @app.get("/up")
        async def up() -> dict[str, str]:
            return {"up": "yes"}

        TestClient(otel.instrument(app)).get("/up", headers={"X-Request-ID": "u-1"})
    finally:
        state.set_settings(previous)

    span = otel.span("GET /up")
    assert (span.attributes or {})["request_id"] == "u-1"
    assert span.instrumentation_scope is not None
    assert span.instrumentation_scope.name.startswith("opentelemetry.instrumentation.")


def test_the_otel_fixture_replaces_a_client_request_id_carrying_personal_data_as_the_distro_does(
    app: FastAPI, otel: OtelCapture
) -> None:
    response = TestClient(app).get("/hello/ada", headers={"X-Request-ID": "4111111111111111"})
    assert response.headers["x-request-id"] != "4111111111111111"
    assert (otel.span("GET /hello/{name}").attributes or {})["request_id"] == response.headers["x-request-id"]


@pytest.mark.parametrize(
    "value",
    ["0f8fad5b-d9cb-469f-a165-70867728950e", "4bf92f3577b34da6a3ce929d0e0e4736", "a" * 64],
)
def test_uuid_hex_and_ulid_request_ids_are_kept_without_a_scan(
    app: FastAPI, otel: OtelCapture, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    from otel_distro._internal import middleware  # noqa: PLC0415

    def scanned(_: str) -> bool:
        raise AssertionError("an opaque id was scanned")

    monkeypatch.setattr(middleware, "client_id_is_clean", scanned)
    assert TestClient(app).get("/hello/ada", headers={"X-Request-ID": value}).headers["x-request-id"] == value


@pytest.mark.parametrize(
    "value",
    ["4111111111111111", "12345678-1234-1234-1234-123456789012", "BE68539007547034", "01ARZ3NDEKTSV4RRFFQ69G5FAV"],
)
def test_other_request_ids_are_always_checked(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from otel_distro._internal import middleware  # noqa: PLC0415

    seen: list[str] = []
    monkeypatch.setattr(middleware, "client_id_is_clean", lambda text: seen.append(text) or True)
    assert middleware._keeps(value) and seen == [value]


def test_the_route_keeps_the_include_router_prefixes(otel: OtelCapture) -> None:
    """FastAPI 0.165 includes routers lazily and routes with the router's own route: the reported route is the
    whole template, as the app declares it (span name, ``http.route``, metrics and the log line)."""
    items = APIRouter(prefix="/items")
    nested = APIRouter()

    @items.get("/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        return {"id": item_id}

    @nested.get("/tags/{tag}")
    async def tag(tag: str) -> dict[str, str]:
        return {"tag": tag}

    items.include_router(nested, prefix="/nested")
    app = FastAPI()
    app.include_router(items, prefix="/api/v1")
    otel.instrument(app)
    client = TestClient(app)

    assert client.get("/api/v1/items/7").json() == {"id": 7}
    assert client.get("/api/v1/items/nested/tags/red").json() == {"tag": "red"}

    for route in ("/api/v1/items/{item_id}", "/api/v1/items/nested/tags/{tag}"):
        span = otel.span(f"GET {route}")
        assert (span.attributes or {})["http.route"] == route
        [line] = [e for e in otel.logs if e["message"] == "request_finished" and e["route"] == route]
        assert line["trace_id"] == otel.trace_id(span)
        assert otel.metric_total("http.server.request.count", {"http.route": route}) == 1
        assert otel.metric_total("http.server.request.duration", {"http.route": route}) == 1


async def _raw_answer(app: Any, path: str) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """What the app sends for one GET of ``path`` (status, raw headers, body), as a server would receive it."""
    messages: list[dict[str, Any]] = []
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
        "path": path, "raw_path": path.encode(), "root_path": "", "query_string": b"",
        "headers": [(b"host", b"testserver")], "client": ("127.0.0.1", 1), "server": ("testserver", 80),
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    with contextlib.suppress(RuntimeError):
        await app(scope, receive, send)
    [start] = [m for m in messages if m["type"] == "http.response.start"]
    body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
    return start["status"], list(start["headers"]), body


def test_an_unhandled_error_keeps_the_apps_own_answer(otel: OtelCapture) -> None:
    """Same status, content type, length (not chunked) and body as without the distro; only the request id is added."""


    async def boom(_: Request) -> Response:
        raise RuntimeError("boom")

    app = FastAPI()
    app.add_route("/boom", boom)
    plain = asyncio.run(_raw_answer(Starlette(routes=[Route("/boom", boom)]), "/boom"))  # Starlette's, not patched
    instrumented = asyncio.run(_raw_answer(otel.instrument(app), "/boom"))

    status, headers, body = instrumented
    assert (status, body) == (plain[0], plain[2]) == (500, b"Internal Server Error")
    assert [h for h in headers if h[0] != b"x-request-id"] == plain[1]
    assert dict(headers)[b"content-type"] == b"text/plain; charset=utf-8"
    assert dict(headers)[b"content-length"] == b"21"
    assert b"x-request-id" in dict(headers)
