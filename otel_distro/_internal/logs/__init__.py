"""Logging: one processor chain for structlog and stdlib `logging`, printed as JSON and exported over OTLP.

Every line, whether it came from ``structlog.get_logger()`` or ``logging.getLogger(__name__)`` (uvicorn's own
loggers included), runs through the same chain (`processors`), is handed to the OTel bridge (`otel_bridge`) and
rendered; `stdlib_bridge` brings `logging` records in, `pipeline` builds the chain and installs it.
"""

from __future__ import annotations

from otel_distro._internal.logs.otel_bridge import OtelLogEmitter
from otel_distro._internal.logs.pipeline import LogPipeline, build_pipeline, emit, install, is_enabled, uninstall
from otel_distro._internal.logs.processors import LEVELS, add_standard_keys
from otel_distro._internal.logs.stdlib_bridge import StdlibBridgeHandler, mark_logged

__all__ = [
    "LEVELS",
    "LogPipeline",
    "OtelLogEmitter",
    "StdlibBridgeHandler",
    "add_standard_keys",
    "build_pipeline",
    "emit",
    "install",
    "is_enabled",
    "mark_logged",
    "uninstall",
]
