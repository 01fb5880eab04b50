"""Every component the collector knows, listed explicitly: kind -> type -> module.

Modules are imported lazily so that one component's optional dependency never breaks another's; a module
follows the shape documented in `collector.component`.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from collector.component import Kind

__all__ = ["ALIASES", "COMPONENTS", "UnknownTypeError", "load", "valid_types"]

COMPONENTS: dict[Kind, dict[str, str]] = {
    Kind.RECEIVER: {
        "otlp": "collector.receivers.otlp",
    },
    Kind.PROCESSOR: {
        "batch": "collector.processors.batch",
        "memory_limiter": "collector.processors.memory_limiter",
        "attributes": "collector.processors.attributes",
        "resource": "collector.processors.resource",
        "pii": "collector.processors.pii",
        "alert_rules": "collector.processors.alert_rules",
    },
    Kind.EXPORTER: {
        "otlp": "collector.exporters.otlp",
        "otlphttp": "collector.exporters.otlphttp",
        "file": "collector.exporters.file",
        "debug": "collector.exporters.debug",
        "prometheus": "collector.exporters.prometheus",
        "prometheusremotewrite": "collector.exporters.prometheusremotewrite",
        "elasticsearch": "collector.exporters.elasticsearch",
        "sentry": "collector.exporters.sentry",
    },
    Kind.EXTENSION: {
        "health_check": "collector.extensions.health_check",
        "file_storage": "collector.extensions.file_storage",
    },
    Kind.CONNECTOR: {},
}

ALIASES: dict[Kind, dict[str, str]] = {
    Kind.EXPORTER: {"otlp_grpc": "otlp", "otlp_http": "otlphttp"},
}


class UnknownTypeError(LookupError):
    def __init__(self, kind: Kind, type_name: str) -> None:
        self.kind = kind
        self.type_name = type_name
        super().__init__(f"unknown type {type_name!r} (valid values: {valid_types(kind)})")


def valid_types(kind: Kind) -> list[str]:
    return sorted([*COMPONENTS[kind], *ALIASES.get(kind, {})])


def load(kind: Kind, type_name: str) -> ModuleType:
    """The module of a component type, resolving aliases; raises `UnknownTypeError`."""
    canonical = ALIASES.get(kind, {}).get(type_name, type_name)
    try:
        path = COMPONENTS[kind][canonical]
    except KeyError:
        raise UnknownTypeError(kind, type_name) from None
    return importlib.import_module(path)
