"""Request context middleware (pure ASGI): server span, request id, request logs, request metrics.

For each HTTP request it keeps a sane client ``X-Request-ID`` or makes one, returns it on the response, puts it
on the server span and in the context every log line of the request reads, logs ``request_finished`` (method,
route, status, duration) or ``request_failed`` with the exception, and counts requests and errors by route,
method and status class. Quiet paths (health, metrics) pass straight through.

With a ``tracer`` (the default under the distro) it also makes the server span itself, in one pass over the
request: W3C ``traceparent`` (any configured propagator) honoured, the stable HTTP semantic-convention
attributes (``http.request.method``, ``url.scheme``, ``url.path``, ``url.query``, ``server.address``,
``server.port``, ``network.protocol.version``, ``user_agent.original``, then
``http.route``, ``http.response.status_code``, ``error.type``), span name ``{method} {route}``, status error
on 5xx and exceptions (recorded as span events), and the ``http.server.request.duration`` histogram. That is
what the OpenTelemetry ASGI instrumentation records, without its per-request wrappers and ``send`` / ``receive``
bookkeeping; ``OTEL_DISTRO_HTTP_INSTRUMENTATION=upstream`` uses that instrumentation instead. ``client.address``
is left out: a client IP is personal data, which the scrubber would redact on every span anyway.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable
from typing import Any

import structlog
from opentelemetry import context as otel_context
from opentelemetry import metrics, propagate, trace
from opentelemetry.trace import Status, StatusCode, get_current_span
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from otel_distro._internal import guard, helpers, logs
from otel_distro._internal.context import REQUEST_ID
from otel_distro._internal.fastpath import fastapi_native
from otel_distro._internal.fastpath.request_duration import duration_recorder
from otel_distro._internal.fastpath.server_span import ServerSpan, start_server_span
from otel_distro._internal.meters import request_counters
from otel_distro._internal.request_stats import request_stats
from otel_distro._internal.scrub import client_id_is_clean
from otel_distro.settings import Settings

__all__ = ["RequestContextMiddleware", "is_sane_request_id", "new_request_id"]

_SANE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}")
_STATUS_CLASS = {1: "1xx", 2: "2xx", 3: "3xx", 4: "4xx", 5: "5xx"}
_KNOWN_METHODS = frozenset({"CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "TRACE", "QUERY"})
_SPAN_NAMES_MAX = 1024  # routes are templates, so few; the bound is for apps that build routes on the fly
_HTTP_VERSIONS = {"1.1": "1.1", "1.0": "1.0", "2": "2", "2.0": "2", "3": "3"}
#: What Starlette's ServerErrorMiddleware answers an unhandled exception with (outside debug mode).
_ERROR_RESPONSE = PlainTextResponse("Internal Server Error", status_code=500)


def is_sane_request_id(value: str) -> bool:
    """1-128 characters of letters, digits and ``. _ : -``, starting with a letter or digit."""
    return _SANE_ID.fullmatch(value) is not None


#: The id formats proxies and tracers generate — a UUID, or 32 or 64 hex digits — with at least one letter:
#: random tokens, never a card, phone, IBAN or e-mail someone chose as an id, so they skip the scrubber's check
#: (and do not fill its cache with one-off values). Every other id gets the check.
_OPAQUE_ID = re.compile(
    r"(?=[^A-Za-z]*[A-Za-z])"
    r"(?:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|[0-9a-fA-F]{32}|[0-9a-fA-F]{64})"
)


def _keeps(client_id: str) -> bool:
    """Whether the request id a client sent is kept: sane, and nothing in it the scrubber would redact."""
    if not is_sane_request_id(client_id):
        return False
    return _OPAQUE_ID.fullmatch(client_id) is not None or client_id_is_clean(client_id)


def new_request_id() -> str:
    """32 hex characters. Not a secret, so no system call for entropy on every request."""
    return "%032x" % random.getrandbits(128)  # noqa: UP031 - the fastest formatting here


def _matched_template(scope: Scope) -> str | None:
    """The whole template of the route the router matched, ``include_router`` prefixes included (FastAPI 0.165's
    lazily included routers: `fastapi_native.matched_template`)."""
    matched = scope.get("route")
    template = fastapi_native.matched_template(scope, matched)
    if template is not None:
        return template
    path = getattr(matched, "path", None)
    return path if isinstance(path, str) and path else None


def _route(scope: Scope, span: Any) -> str | None:
    """The matched route template: from the routing result (``scope["route"]``), the server span, or a search."""
    matched = _matched_template(scope)
    if matched is not None:
        return matched
    attributes = getattr(span, "attributes", None)
    if attributes:
        route = attributes.get("http.route")
        if route:
            return str(route)
    endpoint = scope.get("endpoint")
    app = scope.get("app")
    if endpoint is None or app is None:
        return None
    for candidate in getattr(app, "routes", ()):
        if getattr(candidate, "endpoint", None) is endpoint:
            path = getattr(candidate, "path", None)
            return str(path) if path else None
    return None


class RequestContextMiddleware:
    """Pure ASGI middleware. With ``tracer`` it makes the server span; without, place it inside the
    OpenTelemetry ASGI middleware, whose server span is then current here.

    ``respond_on_error``: when the app raises before responding and no custom error handler exists, answer
    the 500 here so it carries the request id too (the exception is re-raised either way).
    """

    def __init__(
        self,
        app: ASGIApp,
        settings: Settings,
        *,
        respond_on_error: bool = False,
        meter_provider: metrics.MeterProvider | None = None,
        tracer: trace.Tracer | None = None,
    ) -> None:
        self.app = app
        self._settings = settings
        self._header = settings.request_id_header.encode("latin-1")
        self._quiet = frozenset(settings.quiet_paths)
        self._respond_on_error = respond_on_error
        self._log_start = settings.log_request_start
        self._logger = structlog.get_logger("otel_distro.requests")
        provider = meter_provider or metrics.get_meter_provider()
        self._counters = request_counters(provider)
        self._stats = request_stats()
        self._tracer = tracer
        self._span_names: dict[tuple[str, str], str] = {}
        if tracer is not None:
            self._duration = duration_recorder(provider)
            fields = getattr(propagate.get_global_textmap(), "fields", None) or ("traceparent", "tracestate")
            self._propagation = frozenset(field.lower().encode("latin-1") for field in fields)

    def _request_id(self, scope: Scope) -> str:
        for name, value in scope.get("headers", ()):
            if name == self._header:
                text = value.decode("latin-1")
                return text if _keeps(text) else new_request_id()
        return new_request_id()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") in self._quiet:
            await self.app(scope, receive, send)
            return
        if self._tracer is not None:
            await self._serve_traced(scope, receive, send, self._tracer)
            return
        try:
            request_id = self._request_id(scope)
            span = get_current_span()
            if span.is_recording():
                span.set_attribute("request_id", request_id)
            token = REQUEST_ID.set(request_id)
        except Exception as exc:
            guard.internal_error("request_context_start", exc)
            await self.app(scope, receive, send)
            return

        method = scope.get("method", "")
        started = time.perf_counter()

        def done(status: int, exc: BaseException | None) -> None:
            self._finish(scope, span, method, status, started=started, exc=exc)

        try:
            await self._serve(scope, receive, send, request_id, done)
        finally:
            REQUEST_ID.reset(token)

    async def _serve(
        self, scope: Scope, receive: Receive, send: Send, request_id: str,
        done: Callable[[int, BaseException | None], None],
    ) -> None:
        """Run the app with the request id added to the response; ``done(status, exc)`` once it has answered."""
        header = (self._header, request_id.encode("latin-1"))
        response: dict[str, int] = {}

        async def send_with_request_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                response["status"] = message["status"]
                message = {**message, "headers": [*message.get("headers", ()), header]}
            await send(message)

        # request_started: at info when asked for, else at debug (not even called above debug).
        if self._log_start or logs.is_enabled("debug"):
            helpers.log_request(
                scope.get("method", ""), scope.get("path", ""), logger=self._logger,
                level="info" if self._log_start else "debug",
            )
        try:
            await self.app(scope, receive, send_with_request_id)
        except Exception as exc:
            done(500, exc)
            if self._respond_on_error and "status" not in response:
                # The answer Starlette's ServerErrorMiddleware would give (same type, charset and length), with the id.
                await send_with_request_id(
                    {"type": "http.response.start", "status": 500, "headers": list(_ERROR_RESPONSE.raw_headers)}
                )
                await send({"type": "http.response.body", "body": _ERROR_RESPONSE.body})
            raise
        else:
            done(response.get("status", 500), None)

    async def _serve_traced(self, scope: Scope, receive: Receive, send: Send, tracer: trace.Tracer) -> None:
        """The request with its server span: one header scan, one span, one send wrapper."""
        try:
            started = time.perf_counter()
            method = scope.get("method", "") or ""
            request_id = None
            host = user_agent = None
            carrier: dict[str, str] | None = None
            header_name, propagation = self._header, self._propagation
            for name, value in scope.get("headers", ()):
                if name == header_name:
                    if request_id is None:  # the first one, as without a tracer
                        request_id = value.decode("latin-1")
                elif name == b"host":
                    host = value
                elif name == b"user-agent":
                    user_agent = value
                elif name in propagation:
                    if carrier is None:
                        carrier = {}
                    carrier[name.decode("latin-1")] = value.decode("latin-1")
            if request_id is None or not _keeps(request_id):
                request_id = new_request_id()
            parent = propagate.extract(carrier) if carrier is not None else None
            span_method = method if method in _KNOWN_METHODS else "_OTHER"
            attributes: dict[str, Any] = {
                "http.request.method": span_method,
                "url.scheme": scope.get("scheme", "http"),
                "url.path": scope.get("path", ""),
                "request_id": request_id,
            }
            query = scope.get("query_string")
            if query:
                attributes["url.query"] = query.decode("latin-1")
            version = _HTTP_VERSIONS.get(scope.get("http_version", ""))
            if version is not None:
                attributes["network.protocol.version"] = version
            if host is not None:
                text = host.decode("latin-1")
                address, colon, port = text.rpartition(":")
                if colon and port.isdigit() and (not address.startswith("[") or address.endswith("]")):
                    attributes["server.address"] = address.strip("[]")
                    attributes["server.port"] = int(port)
                else:
                    attributes["server.address"] = text.strip("[]")
            if user_agent is not None:
                attributes["user_agent.original"] = user_agent.decode("latin-1")
            span = start_server_span(tracer, span_method if span_method != "_OTHER" else "HTTP", parent, attributes)
            span_token = otel_context.attach(trace.set_span_in_context(span, parent))
            token = REQUEST_ID.set(request_id)
        except Exception as exc:
            guard.internal_error("request_context_start", exc)
            await self.app(scope, receive, send)
            return

        def done(status: int, exc: BaseException | None) -> None:
            route = self._finish(scope, span, method, status, started=started, exc=exc)
            self._end_span(scope, span, span_method, status, route, started=started, exc=exc)

        try:
            await self._serve(scope, receive, send, request_id, done)
        finally:
            REQUEST_ID.reset(token)
            otel_context.detach(span_token)

    def _end_span(
        self, scope: Scope, span: Any, method: str, status: int, route: str | None, *, started: float,
        exc: BaseException | None,
    ) -> None:
        try:
            attributes: dict[str, Any] = {"http.response.status_code": status}
            if route:
                attributes["http.route"] = route
                name = self._span_names.get((method, route))
                if name is None:
                    name = f"{method if method != '_OTHER' else 'HTTP'} {route}"
                    if len(self._span_names) < _SPAN_NAMES_MAX:
                        self._span_names[method, route] = name
                span.update_name(name)
            error_type = type(exc).__qualname__ if exc is not None else str(status) if status >= 500 else None
            if error_type is not None:
                attributes["error.type"] = error_type
            if isinstance(span, ServerSpan):
                span._set_own_attributes(attributes)
            else:
                span.set_attributes(attributes)
            if exc is not None:
                span.record_exception(exc)
            if error_type is not None:
                span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}" if exc is not None else None))
            span.end()
            self._duration.record(
                time.perf_counter() - started, (method, scope.get("scheme", "http"), status, route, error_type)
            )
        except Exception as error:
            guard.internal_error("request_context_end", error)

    def _finish(
        self, scope: Scope, span: Any, method: str, status: int, *, started: float, exc: BaseException | None
    ) -> str | None:
        """Count and log the finished request; the route it matched (None when none did, or on failure)."""
        route = None
        try:
            duration_ms = round((time.perf_counter() - started) * 1000, 3)
            route = _route(scope, span)
            status_class = _STATUS_CLASS.get(status // 100, "other")
            error = exc is not None or status >= 500
            self._counters.add(method, route or "", status_class, error=error)
            self._stats.record(duration_ms / 1000, error)  # the health monitor's threshold alerts
            if exc is not None:
                helpers.log_error(
                    exc,
                    "request_failed",
                    logger=self._logger,
                    method=method,
                    path=scope.get("path", ""),
                    route=route,
                    status=status,
                    duration_ms=duration_ms,
                )
                logs.mark_logged(exc)
            elif not logs.emit(
                "info" if status < 400 else "warning" if status < 500 else "error",
                {
                    "event": "request_finished",
                    "logger": "otel_distro.requests",
                    "method": method,
                    "path": scope.get("path", ""),
                    "route": route,
                    "status": status,
                    "duration_ms": duration_ms,
                },
            ):  # the same line `helpers.log_response` logs, straight through the installed chain
                helpers.log_response(
                    method, scope.get("path", ""), status, duration_ms, route=route, logger=self._logger
                )
        except Exception as error:
            guard.internal_error("request_context_finish", error)
        return route
