"""FastAPI's own telemetry (0.165+) switched off for apps the distro serves: one server span per request, not two."""

from __future__ import annotations

import importlib.util
import logging

import pytest
from fastapi import APIRouter, FastAPI
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.testclient import TestClient

from otel_distro._internal.fastpath import fastapi_native
from otel_distro.testing import OtelCapture

NATIVE = importlib.util.find_spec("fastapi.telemetry") is not None


@pytest.fixture(autouse=True)
def _only_with_the_fast_path_on() -> None:
    """Needed on every path (in place of the conftest's skip)."""


def test_an_app_without_the_config_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    class Plain:
        pass

    monkeypatch.setattr(fastapi_native, "_warned", False)
    plain = Plain()
    assert fastapi_native.quiet(plain) is False
    assert vars(plain) == {}


@pytest.mark.skipif(not NATIVE, reason="this FastAPI has no telemetry of its own")
def test_a_request_makes_one_server_span(otel: OtelCapture) -> None:
    app = FastAPI()

    @app.get("/items/{item_id}")
    def item(item_id: int) -> dict[str, int]:
        return {"id": item_id}

    otel.instrument(app)
    with TestClient(app) as client:
        assert client.get("/items/3").status_code == 200
    assert [span.name for span in otel.spans()] == ["GET /items/{item_id}"]
    assert fastapi_native.quiet(app) is True


@pytest.mark.skipif(not NATIVE, reason="this FastAPI has no telemetry of its own")
def test_a_fastapi_whose_config_it_cannot_find_is_said_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A FastAPI release that keeps its telemetry switch elsewhere would double every span: not in silence."""
    monkeypatch.setattr(fastapi_native, "_warned", False)
    apps = [FastAPI(), FastAPI()]
    for app in apps:
        monkeypatch.setattr(app, "_telemetry", object())
    with caplog.at_level(logging.WARNING, logger="otel_distro"):
        assert [fastapi_native.quiet(app) for app in apps] == [False, False]
    [record] = caplog.records
    assert record.getMessage() == "fastapi_telemetry_not_switched_off"


class _Route:
    path = "/items/{id}"


def test_the_whole_template_of_a_lazily_included_route_comes_from_fastapis_routing_context() -> None:
    route = _Route()
    context = type("EffectiveRouteContext", (), {"original_route": route, "path_format": "/api/v1/items/{id}"})()
    scope = {"route": route, "fastapi": {"effective_route_context": context}}
    assert fastapi_native.matched_template(scope, route) == "/api/v1/items/{id}"
    assert fastapi_native.matched_template(scope, _Route()) is None  # the context of another route
    assert fastapi_native.matched_template({"route": route}, route) is None  # FastAPI 0.115: no context


def test_a_routing_context_of_another_shape_gives_no_template_and_is_said_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A FastAPI release that reshapes the context would drop every included router's prefix: not in silence."""
    monkeypatch.setattr(fastapi_native, "_warned_context", False)
    route = _Route()
    context = type("RouteContext", (), {"route": route, "template": "/api/v1/items/{id}"})()
    scope = {"route": route, "fastapi": {"effective_route_context": context}}
    with caplog.at_level(logging.WARNING, logger="otel_distro"):
        assert [fastapi_native.matched_template(scope, route) for _ in range(3)] == [None, None, None]
    [record] = caplog.records
    assert record.getMessage() == "fastapi_route_context_unknown"


def test_a_starlette_route_of_an_included_router_keeps_its_whole_template(otel: OtelCapture) -> None:
    # `router.add_route`: FastAPI 0.165 leaves it out of scope["route"]; the span still names its route.
    async def plain(request: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    router = APIRouter()
    router.add_route("/plain/{x}", plain)

    @router.get("/items/{item_id}")
    def item(item_id: int) -> dict[str, int]:
        return {"id": item_id}

    app = FastAPI()
    app.include_router(router, prefix="/api/v1")
    otel.instrument(app)
    with TestClient(app) as client:
        assert client.get("/api/v1/plain/7").status_code == 200
        assert client.get("/api/v1/items/3").status_code == 200
    assert [(span.name, (span.attributes or {}).get("http.route")) for span in otel.spans()] == [
        ("GET /api/v1/plain/{x}", "/api/v1/plain/{x}"), ("GET /api/v1/items/{item_id}", "/api/v1/items/{item_id}")]
