"""The FastAPI instrumentation's route search, remembered (its private ``_get_default_span_details``).

Used with ``OTEL_DISTRO_HTTP_INSTRUMENTATION=upstream`` only: the distro's own middleware reads the route FastAPI
matched instead of searching for it.
"""

from __future__ import annotations

import weakref
from typing import Any

from otel_distro._internal import fastpath

__all__ = ["cache_span_details"]

_ROUTE_CACHE_SIZE = 4096
_route_cache: weakref.WeakKeyDictionary[Any, dict[tuple[str, str, str, str], Any]] = weakref.WeakKeyDictionary()


def cache_span_details() -> None:
    """The FastAPI instrumentation finds each request's route by matching every route of the app, per request;
    the answer depends only on the app and the request line, so remember it (per app, bounded)."""
    if not fastpath.active():
        return
    from opentelemetry.instrumentation import fastapi as instrumentation  # noqa: PLC0415

    original = instrumentation._get_default_span_details
    if getattr(original, "__otel_distro__", False):
        return

    def span_details(scope: Any) -> Any:
        app = scope.get("app")
        try:
            per_app = _route_cache.get(app)
            if per_app is None:
                per_app = _route_cache[app] = {}
        except TypeError:  # not weak-referenceable: no cache
            return original(scope)
        key = (scope.get("type", ""), scope.get("method", ""), scope.get("root_path", ""), scope.get("path", ""))
        details = per_app.get(key)
        if details is None:
            details = original(scope)
            if len(per_app) < _ROUTE_CACHE_SIZE:
                per_app[key] = details
        return details

    span_details.__otel_distro__ = True  # type: ignore[attr-defined]
    instrumentation._get_default_span_details = span_details
