"""The ``opentelemetry_configurator`` entry point: installs providers, exporters and logging at start-up."""

from __future__ import annotations

from typing import Any

from opentelemetry.sdk._configuration import _BaseConfigurator

from otel_distro._internal import guard, state

__all__ = ["OtelConfigurator"]


class OtelConfigurator(_BaseConfigurator):
    def _configure(self, **kwargs: Any) -> None:
        from otel_distro.distro import _load_or_exit  # noqa: PLC0415

        settings = state.settings() if state.is_loaded() else _load_or_exit()
        if not settings.enabled:
            return
        try:
            from otel_distro._internal import setup  # noqa: PLC0415

            setup.configure(settings, auto_instrumentation_version=kwargs.get("auto_instrumentation_version"))
        except Exception as exc:
            guard.internal_error("configure", exc)
