"""What the distro needs of FastAPI's undocumented internals (FastAPI 0.165 and later), on every path.

`quiet`: FastAPI's own telemetry kept out of the way of the distro's server spans.

Once a global tracer provider is set, FastAPI traces requests itself and stands down only for the OpenTelemetry ASGI
middleware; with the distro's middleware making the server span, every span, duration point and error log would be
doubled. FastAPI takes the switch only when the app is built (``FastAPI(telemetry=...)``), which is the app's code;
the distro turns it off in the app's private config dict (``app._telemetry``), read per request, while the app's
middleware stack is built. Needed on every path (not a speed matter); on a FastAPI without it nothing is done.
"""

from __future__ import annotations

import importlib.util
import logging
from typing import Any

from starlette.routing import Mount

__all__ = ["matched_template", "quiet"]

_logger = logging.getLogger("otel_distro")
_MISSING = object()
_warned = False
_warned_context = False


def quiet(app: Any) -> bool:
    """Switch FastAPI's own tracing, metrics and logs off for ``app``; whether there was anything to switch off.

    A FastAPI that has telemetry of its own (``fastapi.telemetry``) but not the config where it is looked for would
    double every span: ``fastapi_telemetry_not_switched_off`` says so, once per process."""
    global _warned  # noqa: PLW0603
    config = getattr(app, "_telemetry", None)
    if not isinstance(config, dict):
        if not _warned and importlib.util.find_spec("fastapi.telemetry") is not None:
            _warned = True
            _logger.warning(
                "fastapi_telemetry_not_switched_off",
                extra={"fix": "FastAPI(telemetry={'tracing': False, 'metrics': False, 'logs': False})"},
            )
        return False
    config.update(tracing=False, metrics=False, logs=False)
    return True


def matched_template(scope: Any, matched: Any) -> str | None:
    """The whole template (``include_router`` prefixes included) of ``matched``, the route in ``scope["route"]``,
    from the routing context FastAPI keeps in ``scope["fastapi"]``; None when there is none for that route.

    Newer FastAPI releases (0.165) include routers lazily and put the router's own route in ``scope["route"]``
    (``/items/{id}`` for ``/api/v1/items/{id}``); their own telemetry reads the whole template from this context.
    Older ones (0.115) have no context and put the prefixed route itself in ``scope["route"]``. A FastAPI whose
    context changed shape gives None: the route is then the router-relative one, never an error, and
    ``fastapi_route_context_unknown`` says so once per process (routes may then lack their ``include_router``
    prefix)."""
    global _warned_context  # noqa: PLW0603
    fastapi_scope = scope.get("fastapi")
    if fastapi_scope is None or type(fastapi_scope) is not dict:
        return None
    context = fastapi_scope.get("effective_route_context")
    if context is None:
        return None
    original = getattr(context, "original_route", _MISSING)
    template = getattr(context, "path_format", _MISSING)
    if original is _MISSING or template is _MISSING:
        if not _warned_context:
            _warned_context = True
            _logger.warning("fastapi_route_context_unknown", extra={
                "effect": "routes of included routers may be reported without their prefix",
                "context_type": type(context).__name__,
            })
        return None
    if original is not matched:
        if matched is not None or isinstance(original, Mount):
            return None  # the context of another route; a mount gives no template, included or not
        # a Starlette route of an included router (``add_route``): FastAPI leaves ``scope["route"]`` unset, and its
        # prefixed copy, the context's ``starlette_route``, has the whole template (FastAPI's telemetry reads it)
        template = getattr(getattr(context, "starlette_route", None), "path_format", None)
    return template if isinstance(template, str) and template else None
