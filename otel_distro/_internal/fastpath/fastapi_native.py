"""What the distro needs of FastAPI's undocumented internals (FastAPI 0.165 and later), on every path.

`quiet`: FastAPI's own telemetry kept out of the way of the distro's server spans.

Once a global tracer provider is set, FastAPI traces requests itself and stands down only for the OpenTelemetry ASGI
middleware; with the distro's middleware making the server span, every span, duration point and error log would be
doubled. FastAPI takes the switch only when the app is built (``FastAPI(telemetry=...)``), which is the app's code;
the distro turns it off in the app's private config dict (``app._telemetry``), read per request, while the app's
middleware stack is built. Needed on every path (not a speed matter); on a FastAPI without it nothing is done.
"""

from __future__ import annotations

from typing import Any

__all__ = ["matched_template", "quiet"]


def quiet(app: Any) -> bool:
    """Switch FastAPI's own tracing, metrics and logs off for ``app``; whether there was anything to switch off."""
    config = getattr(app, "_telemetry", None)
    if not isinstance(config, dict):
        return False
    config.update(tracing=False, metrics=False, logs=False)
    return True


def matched_template(scope: Any, matched: Any) -> str | None:
    """The whole template (``include_router`` prefixes included) of ``matched``, the route in ``scope["route"]``,
    from the routing context FastAPI keeps in ``scope["fastapi"]``; None when there is none for that route.

    Newer FastAPI releases (0.165) include routers lazily and put the router's own route in ``scope["route"]``
    (``/items/{id}`` for ``/api/v1/items/{id}``); their own telemetry reads the whole template from this context.
    Older ones (0.115) have no context and put the prefixed route itself in ``scope["route"]``. A FastAPI whose
    context changed shape gives None: the route is then the router-relative one, never an error."""
    fastapi_scope = scope.get("fastapi")
    if fastapi_scope is None or type(fastapi_scope) is not dict:
        return None
    context = fastapi_scope.get("effective_route_context")
    if context is None or getattr(context, "original_route", None) is not matched:
        return None
    template = getattr(context, "path_format", None)
    return template if isinstance(template, str) and template else None
