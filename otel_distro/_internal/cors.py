"""CORS for the distro's browser routes (analytics, Sentry tunnel, monitoring config), from one setting.

Origins listed in ``OTEL_DISTRO_CORS_ORIGINS`` (``*`` for any) get ``Access-Control-Allow-Origin`` on answers and
preflights; a preflight may ask for the headers the browser modules send (``content-type``, ``traceparent``,
``tracestate``, ``baggage``, the request id header, ``sentry-trace``); the request id and ``Retry-After`` are
exposed to the page. A request from an origin not listed gets no CORS headers (its browser then hides the
answer) and a preflight from one is refused (403). Same-origin pages need none of this.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

__all__ = ["Cors"]

_ALLOWED_HEADERS = ("content-type", "traceparent", "tracestate", "baggage", "sentry-trace")


class Cors:
    def __init__(self, origins: Iterable[str], request_id_header: str = "x-request-id",
                 max_age: int = 600) -> None:
        self._origins = frozenset(origins)
        self._any = "*" in self._origins
        self._allow_headers = (*_ALLOWED_HEADERS, request_id_header)
        self._expose = f"{request_id_header}, retry-after"
        self._max_age = str(max_age)

    def allows(self, origin: str | None) -> bool:
        return origin is not None and (self._any or origin.rstrip("/") in self._origins)

    def headers(self, request: Request) -> dict[str, str]:
        """The CORS headers for an actual request's answer (only ``Vary`` for an origin that is not allowed)."""
        origin = request.headers.get("origin")
        if origin is None or not self.allows(origin):
            return {"Vary": "Origin"}  # this answer too depends on the Origin: caches must keep them apart
        return {"Access-Control-Allow-Origin": origin, "Access-Control-Expose-Headers": self._expose,
                "Vary": "Origin"}

    def preflight(self, request: Request, methods: tuple[str, ...]) -> Response:
        """The answer to ``OPTIONS``: 204 with what is allowed, or 403 naming what is not."""
        origin = request.headers.get("origin")
        method = request.headers.get("access-control-request-method", "").upper()
        if origin is None or not self.allows(origin):
            return JSONResponse({"error": f"origin {origin!r} is not allowed (OTEL_DISTRO_CORS_ORIGINS)"},
                                status_code=403, headers={"Vary": "Origin"})
        if method and method not in methods:
            return JSONResponse({"error": f"method {method} is not allowed here (allowed: {', '.join(methods)})"},
                                status_code=403, headers={"Vary": "Origin"})
        asked = [h.strip().lower() for h in request.headers.get("access-control-request-headers", "").split(",")]
        refused = [h for h in asked if h and h not in self._allow_headers]
        if refused:
            return JSONResponse({"error": f"header {refused[0]!r} is not allowed (allowed: "
                                          f"{', '.join(self._allow_headers)})"},
                                status_code=403, headers={"Vary": "Origin"})
        return Response(status_code=204, headers={
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Allow-Methods": ", ".join((*methods, "OPTIONS")),
            "Access-Control-Allow-Headers": ", ".join(self._allow_headers),
            "Access-Control-Max-Age": self._max_age,
            "Vary": "Origin",
        })
