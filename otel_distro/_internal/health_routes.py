"""``/health`` and ``/health/detailed``, and the ASGI wrapper that runs the health monitor with the app.

``/health`` answers from the monitor's last run: 200 when every required check passed, else 503, with each
check's status; ``starting`` (503) before the first run finished. ``/health/detailed`` is for operators: it is
served to loopback clients that came through no proxy (no ``Forwarded`` / ``X-Forwarded-For`` / ``X-Real-IP``
header), or to anyone with ``Authorization: Bearer <OTEL_DISTRO_HEALTH_TOKEN>``; others get 403 (401 when a token
is configured), and nobody ever gets a stack trace.
"""

from __future__ import annotations

import hmac
import ipaddress
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from otel_distro._internal import guard, state
from otel_distro._internal.fastpath import uvicorn_server
from otel_distro._internal.health_monitor import monitor

__all__ = ["HealthLifespan", "health", "health_detailed", "is_operator"]

_PROXY_HEADERS = frozenset({b"forwarded", b"x-forwarded-for", b"x-real-ip"})
_NO_STORE = {"Cache-Control": "no-store"}


async def health(_: Request) -> Response:
    status, body = monitor().health_response()
    return Response(body, status_code=status, media_type="application/json", headers=_NO_STORE)


async def health_detailed(request: Request) -> Response:
    token = state.settings().health_token
    refusal = _refusal(request.scope, token)
    if refusal is not None:
        return refusal
    report = monitor().detailed()
    return JSONResponse(report, status_code=200 if report["status"] == "ok" else 503, headers=_NO_STORE)


def _refusal(scope: Scope, token: str | None) -> Response | None:
    presented = _bearer(scope)
    if token is not None and presented is not None:
        if hmac.compare_digest(presented.encode(), token.encode()):
            return None
        return _refuse(401, "wrong token", token)
    if is_operator(scope):
        return None
    if token is not None:
        return _refuse(401, "send Authorization: Bearer <OTEL_DISTRO_HEALTH_TOKEN>", token)
    return _refuse(403, "served to loopback clients only (or set OTEL_DISTRO_HEALTH_TOKEN)", token)


def _refuse(status: int, reason: str, token: str | None) -> Response:
    headers = dict(_NO_STORE)
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="health"'
    return JSONResponse({"error": f"/health/detailed is for operators: {reason}"}, status, headers=headers)


def _bearer(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            text: str = value.decode("latin-1")
            scheme, _, credentials = text.partition(" ")
            token = credentials.strip()
            if scheme.lower() == "bearer" and token:
                return token
    return None


def is_operator(scope: Scope) -> bool:
    """Whether the request comes from this machine directly: a loopback client address and no proxy header."""
    client = scope.get("client")
    if not client:
        return False
    try:
        address = ipaddress.ip_address(str(client[0]))
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    if not (address.is_loopback or (mapped is not None and mapped.is_loopback)):
        return False
    return not any(name in _PROXY_HEADERS for name, _ in scope.get("headers", ()))


class HealthLifespan:
    """Outermost ASGI wrapper: starts the monitor with the app's lifespan (the first run done before
    ``startup.complete`` goes out), or on the first request without one, and stops it at shutdown."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await self._lifespan(scope, receive, send)
            return
        if kind == "http":
            try:
                monitor().ensure_running()
            except Exception as exc:
                guard.internal_error("health_monitor_start", exc)
        await self.app(scope, receive, send)

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def receive_shutdown(*args: Any) -> Message:
            nonlocal started
            message = await receive()
            if message["type"] == "lifespan.shutdown" and started:
                started = False
                try:
                    await monitor().release()
                except Exception as exc:
                    guard.internal_error("health_monitor_stop", exc)
            return message

        async def send_started(message: Message) -> None:
            nonlocal started
            if message["type"] == "lifespan.startup.complete" and not started:
                try:
                    await monitor().acquire()
                    started = True
                except Exception as exc:
                    guard.internal_error("health_monitor_start", exc)
            await send(message)

        try:
            await self.app(scope, receive_shutdown, send_started)
        finally:
            try:
                uvicorn_server.lifespan_ended()  # the telemetry flushed here when uvicorn's own hook is not in place
            except Exception as exc:
                guard.internal_error("lifespan_ended", exc)
