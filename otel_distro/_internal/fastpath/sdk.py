"""The OpenTelemetry internals every path needs: none of them has a public form.

Not part of the fast path's switch (the plain path needs them too), but kept here with it so that one room holds
every private name the distro touches. Each is used defensively: on a release where it is gone, the step it serves
is skipped (and the CI matrix shows which).
"""

from __future__ import annotations

import os
from typing import Any

from opentelemetry.sdk._configuration import _BaseConfigurator, _get_exporter_names, _import_exporters
from opentelemetry.sdk.resources import Resource

__all__ = [
    "ConfiguratorBase",
    "drop_inherited_connections",
    "exporter_classes",
    "force_global_providers",
    "is_instrumented",
    "renew_system_metrics_process",
    "update_resource",
]

#: The base class of ``opentelemetry_configurator`` entry points (what ``opentelemetry-instrument`` loads).
ConfiguratorBase = _BaseConfigurator


def exporter_classes() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Span, metric and log exporter classes by name, from ``OTEL_{TRACES,METRICS,LOGS}_EXPORTER``, as the SDK's
    own configurator loads them (entry points)."""
    return _import_exporters(
        _get_exporter_names("traces"), _get_exporter_names("metrics"), _get_exporter_names("logs")
    )


def update_resource(provider: Any, resource: Resource) -> None:
    """Merge ``resource`` into ``provider``'s (after fork: the child's pid), where the SDK lets us."""
    update = getattr(provider, "_update_resource", None)
    if callable(update):
        update(resource)


def drop_inherited_connections(exporter: object) -> None:
    """Close the pooled HTTP connections an exporter inherited; a closed requests session reconnects on use."""
    import requests  # noqa: PLC0415

    objects: list[object] = [exporter]
    for _ in range(3):
        found: list[object] = []
        for obj in objects:
            for name in ("_client", "_transport", "_session"):
                child = getattr(obj, name, None)
                if isinstance(child, requests.Session):
                    child.close()
                elif child is not None:
                    found.append(child)
        objects = found


def renew_system_metrics_process() -> None:
    """After fork, the system metrics instrumentation measures the child, not the master."""
    try:
        from opentelemetry.instrumentation.system_metrics import SystemMetricsInstrumentor  # noqa: PLC0415
    except ImportError:
        return
    instance = getattr(SystemMetricsInstrumentor, "_instance", None)
    if instance is not None and hasattr(instance, "_proc"):
        import psutil  # noqa: PLC0415

        instance._proc = psutil.Process(os.getpid())


def force_global_providers(tracer_provider: Any, meter_provider: Any, logger_provider: Any) -> None:
    """Install global providers whatever was set before (the API sets each once per process; the pytest plugin
    needs its own in-memory ones)."""
    from opentelemetry import _logs, metrics, trace  # noqa: PLC0415
    from opentelemetry._logs import _internal as logs_internal  # noqa: PLC0415
    from opentelemetry.metrics import _internal as metrics_internal  # noqa: PLC0415

    trace._TRACER_PROVIDER_SET_ONCE._done = False
    trace._TRACER_PROVIDER = None
    metrics_internal._METER_PROVIDER_SET_ONCE._done = False
    metrics_internal._METER_PROVIDER = None
    logs_internal._LOGGER_PROVIDER_SET_ONCE._done = False
    logs_internal._LOGGER_PROVIDER = None
    trace.set_tracer_provider(tracer_provider)
    metrics.set_meter_provider(meter_provider)
    _logs.set_logger_provider(logger_provider)


def is_instrumented(app: object) -> bool:
    """Whether the OpenTelemetry FastAPI instrumentation already wrapped ``app`` (its marker attribute; instrumenting
    twice would only log upstream's "already instrumented" warning)."""
    return bool(getattr(app, "_is_instrumented_by_opentelemetry", False))
