"""FastAPI's own telemetry (FastAPI 0.165 and later) kept out of the way of the distro's server spans.

Once a global tracer provider is set, FastAPI traces requests itself and stands down only for the OpenTelemetry ASGI
middleware; with the distro's middleware making the server span, every span, duration point and error log would be
doubled. FastAPI takes the switch only when the app is built (``FastAPI(telemetry=...)``), which is the app's code;
the distro turns it off in the app's private config dict (``app._telemetry``), read per request, while the app's
middleware stack is built. Needed on every path (not a speed matter); on a FastAPI without it nothing is done.
"""

from __future__ import annotations

from typing import Any

__all__ = ["quiet"]


def quiet(app: Any) -> bool:
    """Switch FastAPI's own tracing, metrics and logs off for ``app``; whether there was anything to switch off."""
    config = getattr(app, "_telemetry", None)
    if not isinstance(config, dict):
        return False
    config.update(tracing=False, metrics=False, logs=False)
    return True
