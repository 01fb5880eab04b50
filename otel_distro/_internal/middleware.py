"""Request context middleware (pure ASGI): request id, request logs, request and error counters.

For each HTTP request it keeps a sane client ``X-Request-ID`` or makes one, returns it on the response, puts it
on the server span and in the context every log line of the request reads, logs ``request_finished`` (method,
route, status, duration) or ``request_failed`` with the exception, and counts requests and errors by route,
method and status class. Quiet paths (health, metrics) pass straight through.
"""

from __future__ import annotations

import random
import re
import time
from typing import Any

import structlog
from opentelemetry import metrics
from opentelemetry.trace import get_current_span
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from otel_distro._internal import guard, helpers
from otel_distro._internal.context import REQUEST_ID
from otel_distro._internal.meters import request_counters
from otel_distro.settings import Settings

__all__ = ["RequestContextMiddleware", "is_sane_request_id", "new_request_id"]

_SANE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}")
_STATUS_CLASS = {1: "1xx", 2: "2xx", 3: "3xx", 4: "4xx", 5: "5xx"}


def is_sane_request_id(value: str) -> bool:
    """1-128 characters of letters, digits and ``. _ : -``, starting with a letter or digit."""
    return _SANE_ID.fullmatch(value) is not None


def new_request_id() -> str:
    """32 hex characters. Not a secret, so no system call for entropy on every request."""
    return "%032x" % random.getrandbits(128)  # noqa: UP031 - the fastest formatting here


def _route(scope: Scope, span: Any) -> str | None:
    """The matched route template: from the server span when instrumented, else from the routing result."""
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
    """Pure ASGI middleware; place it inside the OpenTelemetry middleware so the server span is current.

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
    ) -> None:
        self.app = app
        self._settings = settings
        self._header = settings.request_id_header.encode("latin-1")
        self._quiet = frozenset(settings.quiet_paths)
        self._respond_on_error = respond_on_error
        self._log_start = settings.log_request_start
        self._logger = structlog.get_logger("otel_distro.requests")
        self._counters = request_counters(meter_provider or metrics.get_meter_provider())

    def _request_id(self, scope: Scope) -> str:
        for name, value in scope.get("headers", ()):
            if name == self._header:
                text = value.decode("latin-1")
                return text if is_sane_request_id(text) else new_request_id()
        return new_request_id()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") in self._quiet:
            await self.app(scope, receive, send)
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

        header = (self._header, request_id.encode("latin-1"))
        method = scope.get("method", "")
        started = time.perf_counter()
        response: dict[str, int] = {}

        async def send_with_request_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                response["status"] = message["status"]
                message = {**message, "headers": [*message.get("headers", ()), header]}
            await send(message)

        # request_started: at info when asked for, else at debug (a no-op call at the default level).
        helpers.log_request(
            method, scope.get("path", ""), logger=self._logger, level="info" if self._log_start else "debug"
        )
        try:
            await self.app(scope, receive, send_with_request_id)
        except Exception as exc:
            self._finish(scope, span, method, 500, started=started, exc=exc)
            if self._respond_on_error and "status" not in response:
                await send_with_request_id(
                    {"type": "http.response.start", "status": 500, "headers": [(b"content-type", b"text/plain")]}
                )
                await send({"type": "http.response.body", "body": b"Internal Server Error"})
            raise
        else:
            self._finish(scope, span, method, response.get("status", 500), started=started, exc=None)
        finally:
            REQUEST_ID.reset(token)

    def _finish(
        self, scope: Scope, span: Any, method: str, status: int, *, started: float, exc: BaseException | None
    ) -> None:
        try:
            duration_ms = round((time.perf_counter() - started) * 1000, 3)
            route = _route(scope, span)
            status_class = _STATUS_CLASS.get(status // 100, "other")
            self._counters.add(method, route or "", status_class, error=exc is not None or status >= 500)
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
            else:
                helpers.log_response(
                    method, scope.get("path", ""), status, duration_ms, route=route, logger=self._logger
                )
        except Exception as error:
            guard.internal_error("request_context_finish", error)
