"""The ``opentelemetry_configurator`` entry point: installs providers, exporters and logging at start-up."""

from __future__ import annotations

import logging
from typing import Any

from otel_distro._internal import guard, state, workers
from otel_distro._internal.fastpath import sdk
from otel_distro.settings import Settings

__all__ = ["OtelConfigurator"]


class OtelConfigurator(sdk.ConfiguratorBase):
    def _configure(self, **kwargs: Any) -> None:
        from otel_distro.distro import _load_or_exit  # noqa: PLC0415

        settings = state.settings() if state.is_loaded() else _load_or_exit()
        if not settings.enabled:
            return
        role = workers.process_role()
        if role != "app":
            # A uvicorn supervisor or a stdlib helper: the workers it starts configure themselves.
            try:
                _print_logs_only(settings, role)
            except Exception as exc:
                guard.internal_error("configure", exc)
            return
        try:
            from otel_distro._internal import setup  # noqa: PLC0415

            setup.configure(settings, auto_instrumentation_version=kwargs.get("auto_instrumentation_version"))
        except Exception as exc:
            guard.internal_error("configure", exc)


def _print_logs_only(settings: Settings, role: workers.Role) -> None:
    """No providers, exporters or host metrics in a process that does not serve the app; a supervisor's own lines
    (uvicorn's "Started parent process", worker restarts) are still printed the distro's way, never exported."""
    if role != "supervisor":
        return
    from otel_distro._internal import logs  # noqa: PLC0415
    from otel_distro._internal.scrub import scrubbing_hooks  # noqa: PLC0415

    pipeline = logs.build_pipeline(log_format=settings.log_format, scrubber=scrubbing_hooks(settings).structlog)
    logs.install(pipeline, level=settings.log_level, access_log=settings.access_log)
    logging.getLogger("otel_distro").info("telemetry_not_configured", extra={"process_role": role})
