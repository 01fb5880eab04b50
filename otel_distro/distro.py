"""The ``opentelemetry_distro`` entry point: defaults for the standard variables, and how instrumentors load.

``opentelemetry-instrument`` calls `OtelDistro.configure` first, then the configurator, then
`OtelDistro.load_instrumentor` once per installed instrumentation.
"""

from __future__ import annotations

import os
from typing import Any

from opentelemetry.instrumentation.distro import BaseDistro  # type: ignore[attr-defined]

from otel_distro._internal import guard, state, workers
from otel_distro.settings import load_settings, uses_upstream_http_instrumentation

__all__ = ["BATCH_DEFAULTS", "STANDARD_DEFAULTS", "SYSTEM_METRICS", "OtelDistro"]

#: Defaults for standard variables, applied only where the environment leaves them unset.
STANDARD_DEFAULTS: dict[str, str] = {
    "OTEL_TRACES_EXPORTER": "otlp",
    "OTEL_METRICS_EXPORTER": "otlp",
    "OTEL_LOGS_EXPORTER": "otlp",
    "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
    # Stable HTTP semantic conventions: http.server.request.duration in seconds, http.route, ...
    "OTEL_SEMCONV_STABILITY_OPT_IN": "http",
    # Exemplars cost a reservoir offer per measurement and reader; opt in with trace_based.
    "OTEL_METRICS_EXEMPLAR_FILTER": "always_off",
}

#: Batch sizes of the span and log batch processors, where the user set neither the queue nor the batch size of
#: that processor: four times the SDK's (512 of a 2048 queue). Each export has a fixed cost (an HTTP request, its
#: headers, the resource and scope written again) paid in a thread that competes with the app for the GIL; fewer,
#: larger exports leave the request path more of it (+3 to 5% req/s on the demo's JSON route).
BATCH_DEFAULTS: dict[str, tuple[str, str]] = {
    "OTEL_BSP": ("8192", "2048"),
    "OTEL_BLRP": ("8192", "2048"),
}

#: The system metrics collected (CPU, memory, disk, network, and this process), a subset of the
#: instrumentation's default list that leaves out per-thread and GC detail.
SYSTEM_METRICS: dict[str, list[str] | None] = {
    "system.cpu.utilization": ["idle", "user", "system", "iowait"],
    "system.memory.usage": ["used", "free", "cached"],
    "system.memory.utilization": ["used", "free", "cached"],
    "system.disk.io": ["read", "write"],
    "system.disk.operations": ["read", "write"],
    "system.network.io": ["transmit", "receive"],
    "system.network.errors": ["transmit", "receive"],
    "process.cpu.utilization": ["user", "system"],
    "process.memory.usage": None,
    "process.open_file_descriptor.count": None,
    "process.thread.count": None,
}

# Instrumentations the distro replaces: it bridges stdlib logging to OTLP itself, through one chain.
_REPLACED = frozenset({"logging"})
# The HTTP server instrumentations its own request middleware replaces (unless upstream is asked for).
_HTTP_SERVER = frozenset({"fastapi", "asgi", "starlette"})


class OtelDistro(BaseDistro):  # type: ignore[misc]
    def _configure(self, **kwargs: Any) -> None:
        settings = state.settings() if state.is_loaded() else _load_or_exit()
        if not settings.enabled:
            return
        for name, value in STANDARD_DEFAULTS.items():
            os.environ.setdefault(name, value)
        for prefix, (queue, batch) in BATCH_DEFAULTS.items():
            # Both or neither: a batch larger than the user's own queue size would stop the SDK at start.
            if f"{prefix}_MAX_QUEUE_SIZE" not in os.environ and f"{prefix}_MAX_EXPORT_BATCH_SIZE" not in os.environ:
                os.environ[f"{prefix}_MAX_QUEUE_SIZE"] = queue
                os.environ[f"{prefix}_MAX_EXPORT_BATCH_SIZE"] = batch

    def load_instrumentor(self, entry_point: Any, **kwargs: Any) -> None:
        settings = state.settings()
        if not settings.enabled:
            super().load_instrumentor(entry_point, **kwargs)
            return
        name = entry_point.name
        if name in _REPLACED or workers.process_role() != "app":
            return  # a supervisor or helper process runs no app code: nothing to instrument, no host metrics
        try:
            if name in _HTTP_SERVER and not uses_upstream_http_instrumentation(settings):
                from otel_distro._internal.fastapi_app import patch_fastapi  # noqa: PLC0415

                if name == "fastapi":
                    patch_fastapi()
                return
            if name == "fastapi":
                from otel_distro._internal.fastapi_app import fastapi_instrument_kwargs, patch_fastapi  # noqa: PLC0415

                patch_fastapi()
                kwargs.update(fastapi_instrument_kwargs())
            elif name == "system_metrics":
                if not settings.system_metrics:
                    return
                entry_point.load()(config=SYSTEM_METRICS).instrument(**kwargs)
                _install_host_metrics(kwargs)
                return
        except Exception as exc:
            guard.internal_error(f"load_instrumentor_{name}", exc)
        super().load_instrumentor(entry_point, **kwargs)


def _install_host_metrics(kwargs: dict[str, Any]) -> None:
    """Filesystem usage and process memory utilization, beside the system-metrics instrumentation's."""
    from opentelemetry import metrics  # noqa: PLC0415

    from otel_distro._internal import host_metrics  # noqa: PLC0415

    host_metrics.install(kwargs.get("meter_provider") or metrics.get_meter_provider())


def _load_or_exit() -> Any:
    """Validate the settings once at start-up; a bad value stops the process with a message naming it."""
    from otel_distro.settings import SettingsError  # noqa: PLC0415

    try:
        settings = load_settings()
    except SettingsError as exc:
        import sys  # noqa: PLC0415

        sys.stderr.write("otel-distro: invalid configuration, not starting:\n" + str(exc) + "\n")
        raise SystemExit(2) from None
    state.set_settings(settings)
    return settings
