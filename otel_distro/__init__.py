"""otel-distro: production logging and monitoring on OpenTelemetry, with no telemetry code in the app.

Run the app as ``opentelemetry-instrument uvicorn app:app``; this package is found through its
``opentelemetry_distro`` / ``opentelemetry_configurator`` entry points. The names below are the small API for
code that wants more: structured logs with the request's ids, log helpers with documented fields, health
checks, and manual instrumentation of one app (tests).

Names are imported on first use, so importing the package (as the pytest plugin does in every session)
stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from otel_distro._internal.fastapi_app import instrument_app
    from otel_distro._internal.health import (
        HealthCheck,
        add_health_check,
        check_database,
        check_http,
        check_redis,
        remove_health_check,
        run_health_checks,
    )
    from otel_distro._internal.helpers import get_logger, log_error, log_event, log_request, log_response
    from otel_distro.analytics import track_event
    from otel_distro.settings import Settings, SettingsError, load_settings

__all__ = [
    "HealthCheck",
    "Settings",
    "SettingsError",
    "add_health_check",
    "check_database",
    "check_http",
    "check_redis",
    "get_logger",
    "instrument_app",
    "load_settings",
    "log_error",
    "log_event",
    "log_request",
    "log_response",
    "remove_health_check",
    "run_health_checks",
    "track_event",
]

_HOMES = {
    "instrument_app": "otel_distro._internal.fastapi_app",
    "HealthCheck": "otel_distro._internal.health",
    "add_health_check": "otel_distro._internal.health",
    "check_database": "otel_distro._internal.health",
    "check_http": "otel_distro._internal.health",
    "check_redis": "otel_distro._internal.health",
    "remove_health_check": "otel_distro._internal.health",
    "run_health_checks": "otel_distro._internal.health",
    "get_logger": "otel_distro._internal.helpers",
    "log_error": "otel_distro._internal.helpers",
    "log_event": "otel_distro._internal.helpers",
    "log_request": "otel_distro._internal.helpers",
    "log_response": "otel_distro._internal.helpers",
    "Settings": "otel_distro.settings",
    "SettingsError": "otel_distro.settings",
    "load_settings": "otel_distro.settings",
    "track_event": "otel_distro.analytics",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'otel_distro' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
