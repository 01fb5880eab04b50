"""What the distro adds to every FastAPI app: the request-context middleware and the /health, /metrics routes.

`patch_fastapi` wraps ``FastAPI.build_middleware_stack``, so the stack becomes::

    ServerErrorMiddleware -> HealthLifespan -> RequestContextMiddleware (server span) -> user middleware -> routes

(`health_routes.HealthLifespan` runs the background health monitor with the app's lifespan.)

By default the request-context middleware makes the server span itself (see `middleware`). With
``OTEL_DISTRO_HTTP_INSTRUMENTATION=upstream`` the OpenTelemetry FastAPI instrumentation does, outermost
(the wrapper is installed before it captures the method)::

    OpenTelemetryMiddleware -> ServerErrorMiddleware -> RequestContextMiddleware -> user middleware -> routes

and its server span is current while the request context runs. Routes are added when the stack is built
(first request), and only where the app has no route of its own on that path.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable
from typing import Any

from opentelemetry import metrics, trace
from starlette.middleware.errors import ServerErrorMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp

from otel_distro._internal import guard, health, health_routes, setup, state, workers
from otel_distro._internal.fastpath import fastapi_native, sdk, uvicorn_server
from otel_distro._internal.fastpath.fastapi_routes import cache_span_details
from otel_distro._internal.meters import DroppingMeterProvider
from otel_distro._internal.middleware import RequestContextMiddleware
from otel_distro.settings import uses_upstream_http_instrumentation

__all__ = ["add_routes", "instrument_app", "patch_fastapi", "wrap_stack"]

_PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


async def _health(request: Request) -> Response:
    return await health_routes.health(request)


async def _health_detailed(request: Request) -> Response:
    return await health_routes.health_detailed(request)


async def _metrics(_: Request) -> Response:
    current = setup.runtime()
    if current is None or current.prometheus is None:
        return PlainTextResponse("metrics are not configured in this process\n", status_code=404)
    count = workers.worker_count()
    if current.settings.prometheus == "auto" and count > 1:
        return PlainTextResponse(
            f"503: this app runs {count} workers and each sees only its own requests, so this endpoint would "
            "report one worker's share as the total. Scrape the collector's prometheus exporter (:8889), "
            "which receives every worker's metrics over OTLP, or set OTEL_DISTRO_PROMETHEUS=on to serve "
            "per-worker numbers anyway.\n",
            status_code=503,
        )
    from prometheus_client import REGISTRY, generate_latest  # noqa: PLC0415

    return Response(generate_latest(REGISTRY), media_type=_PROMETHEUS_CONTENT_TYPE)


def add_routes(app: Any) -> None:
    """Add the health and metrics routes the app does not define itself."""
    settings = state.settings()
    taken = {getattr(route, "path", None) for route in app.router.routes}
    wanted: list[tuple[str, Callable[[Request], Any]]] = [
        (settings.health_path, _health),
        (settings.health_path.rstrip("/") + "/detailed", _health_detailed),
    ]
    if settings.prometheus != "off":
        wanted.append((settings.metrics_path, _metrics))
    for path, endpoint in wanted:
        if path not in taken:
            app.router.add_route(path, endpoint, methods=["GET"], include_in_schema=False)
    from otel_distro._internal.browser_routes import add_browser_routes  # noqa: PLC0415 - analytics, tunnel, config

    add_browser_routes(app, taken)


def wrap_stack(app: Any, stack: ASGIApp) -> ASGIApp:
    """Put `RequestContextMiddleware` just inside Starlette's outer ServerErrorMiddleware."""
    settings = state.settings()
    tracer = None if uses_upstream_http_instrumentation(settings) else trace.get_tracer("otel_distro.http")
    if tracer is not None:
        _quiet_native_telemetry(app)
    if isinstance(stack, ServerErrorMiddleware):
        respond = stack.handler is None and not stack.debug
        return ServerErrorMiddleware(
            app=RequestContextMiddleware(stack.app, settings, respond_on_error=respond, tracer=tracer),
            handler=stack.handler,
            debug=stack.debug,
        )
    return RequestContextMiddleware(stack, settings, tracer=tracer)


def _with_health_monitor(stack: ASGIApp) -> ASGIApp:
    """`health_routes.HealthLifespan` just inside the outer ServerErrorMiddleware (which the upstream FastAPI
    instrumentation expects to find outermost, and which passes lifespan messages straight through)."""
    if isinstance(stack, ServerErrorMiddleware):
        stack.app = health_routes.HealthLifespan(stack.app)
        return stack
    return health_routes.HealthLifespan(stack)


def _quiet_native_telemetry(app: Any) -> None:
    """FastAPI 0.165+ traces requests itself once a global provider is set: with the distro's middleware making the
    server span, that would double every span (`fastpath.fastapi_native`)."""
    fastapi_native.quiet(app)


def patch_fastapi() -> None:
    """Make every FastAPI app built from now on carry the middleware and routes (idempotent)."""
    import fastapi  # noqa: PLC0415

    try:
        cache_span_details()
    except Exception as exc:
        guard.internal_error("cache_span_details", exc)
    try:
        health.track_sqlalchemy_engines()  # engines are known from creation, before the app's first query
    except Exception as exc:
        guard.internal_error("track_sqlalchemy_engines", exc)

    original = fastapi.applications.FastAPI.build_middleware_stack
    if getattr(original, "__otel_distro__", False):
        return

    @functools.wraps(original)
    def build_middleware_stack(self: Any) -> ASGIApp:
        stack = original(self)
        try:
            uvicorn_server.app_starting()
            add_routes(self)
            health.track_sqlalchemy_engines()
            return _with_health_monitor(wrap_stack(self, stack))
        except Exception as exc:
            guard.internal_error("build_middleware_stack", exc)
            return stack

    build_middleware_stack.__otel_distro__ = True  # type: ignore[attr-defined]
    fastapi.applications.FastAPI.build_middleware_stack = build_middleware_stack  # type: ignore[method-assign]


def instrument_app(app: Any) -> Any:
    """Instrument one FastAPI app by hand (tests, or apps not started under ``opentelemetry-instrument``).

    Adds the request context with its server span, and the routes; with the upstream HTTP instrumentation
    selected, the OpenTelemetry FastAPI instrumentation makes the span (without the ASGI ``http send``/
    ``http receive`` spans unless ``OTEL_DISTRO_ASGI_SEND_RECEIVE_SPANS`` asks for them).
    """
    patch_fastapi()
    if not uses_upstream_http_instrumentation(state.settings()):
        app.middleware_stack = None
        return app
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor  # noqa: PLC0415

    # As under the distro: stable HTTP semantic conventions (read once per process, at first instrumentation).
    os.environ.setdefault("OTEL_SEMCONV_STABILITY_OPT_IN", "http")
    if not sdk.is_instrumented(app):
        FastAPIInstrumentor.instrument_app(app, **fastapi_instrument_kwargs())
    app.middleware_stack = None
    return app


def fastapi_instrument_kwargs() -> dict[str, Any]:
    """What the distro passes to the FastAPI instrumentation: dropped internal spans, quiet paths untraced."""
    settings = state.settings()
    kwargs: dict[str, Any] = {"meter_provider": DroppingMeterProvider(metrics.get_meter_provider())}
    if not settings.asgi_send_receive_spans:
        kwargs["exclude_spans"] = ["receive", "send"]
    if not os.environ.get("OTEL_PYTHON_FASTAPI_EXCLUDED_URLS") and not os.environ.get("OTEL_PYTHON_EXCLUDED_URLS"):
        # The instrumentation searches these in the full URL: match the path right after the authority.
        patterns = (rf"(?:://[^/]+|^){re.escape(path)}(?:\?.*)?$" for path in settings.quiet_paths)
        kwargs["excluded_urls"] = ",".join(patterns)
    return kwargs
