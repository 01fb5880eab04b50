"""``elasticsearch`` exporter: logs and spans into Elasticsearch data streams through ``_bulk`` ``create``
actions, with per-document results honoured (429/5xx retried, mapping errors dead-lettered) and, on start,
the ILM/SLM policies and templates that retention needs.

Split by responsibility, as Vector's sink: `_config` (keys), `_encoder` (OTLP -> documents per mapping mode,
data stream routing), `_request` (NDJSON bodies), `_classify` (what to retry), `_bulk` (flush by bytes and
interval), `_lifecycle` (ILM/SLM/templates installer), `_deadletter`, `_exporter` (runtime).
"""

from __future__ import annotations

from collector.component import CreateSettings
from collector.pdata import Signal

from ._config import Config
from ._exporter import ElasticsearchExporter

__all__ = ["SIGNALS", "TYPE", "Config", "ElasticsearchExporter", "create"]

TYPE = "elasticsearch"
SIGNALS = frozenset({Signal.LOGS, Signal.TRACES})


def create(settings: CreateSettings, config: Config) -> ElasticsearchExporter:
    prefix = f"exporters::{settings.id}"
    if settings.signal is not None and settings.signal not in SIGNALS:
        raise ValueError(f"{prefix}: the elasticsearch exporter supports logs and traces, not {settings.signal}")
    try:
        return ElasticsearchExporter(settings, config)
    except ValueError as exc:  # no endpoint in the config nor in $ELASTICSEARCH_URL
        raise ValueError(f"{prefix}::{exc}") from None
