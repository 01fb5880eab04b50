"""``elasticsearch`` exporter: logs, spans and metric data points into Elasticsearch data streams through
``_bulk`` ``create`` actions, with per-document results honoured (429/5xx retried, mapping errors
dead-lettered) and, on start, the ILM/SLM policies and templates that retention needs.

Split by responsibility, as Vector's sink: `_config` (keys), `_encoder` (OTLP -> documents per mapping mode,
data stream routing), `_request` (NDJSON bodies), `_classify` (what to retry), `_bulk` (flush by bytes and
interval), `_lifecycle` (ILM/SLM/templates installer), `_deadletter`, `_exporter` (runtime).

.. code-block:: yaml

    exporters:
      elasticsearch:
        endpoints: ["${env:ELASTICSEARCH_URL}"]      # or leave out: $ELASTICSEARCH_URL is the fallback
        api_key: ${env:ELASTICSEARCH_API_KEY}        # or user / password
        tls: {ca_file: /etc/ssl/elastic-ca.pem}
        mapping: {mode: otel}                         # or ecs
        flush: {bytes: 5000000, interval: 1s}
        lifecycle:                                    # installed on start, idempotent
          slm: {repository: backups}                  # snapshots before ILM deletes (90d)
        dead_letter: {path: ./data/elasticsearch-dead-letter.ndjson}
        sending_queue: {storage: file_storage/queue}

Self-metrics: ``otelcol_elasticsearch_docs_processed{outcome}`` (success, too_many, failed_server,
failed_client), ``otelcol_elasticsearch_bulk_requests{outcome}``, ``otelcol_elasticsearch_flushed_bytes``,
``otelcol_elasticsearch_docs_dead_lettered``; the sender counts sent/failed records as for every exporter.
"""

from __future__ import annotations

import os

from collector.component import CreateSettings
from collector.pdata import Signal

from ._config import ENDPOINT_ENV_VAR, Config
from ._exporter import ElasticsearchExporter

__all__ = ["SIGNALS", "TYPE", "Config", "ElasticsearchExporter", "create", "disabled_reason"]

TYPE = "elasticsearch"
SIGNALS = frozenset({Signal.LOGS, Signal.TRACES, Signal.METRICS})


def disabled_reason(config: Config) -> str | None:
    """No endpoint in the config and none in ``$ELASTICSEARCH_URL``: the exporter is switched off."""
    if config.endpoints or config.endpoint or os.environ.get(ENDPOINT_ENV_VAR, "").strip():
        return None
    return f"no endpoint configured and {ENDPOINT_ENV_VAR} is not set"


def create(settings: CreateSettings, config: Config) -> ElasticsearchExporter:
    prefix = f"exporters::{settings.id}"
    try:
        return ElasticsearchExporter(settings, config)
    except ValueError as exc:  # no endpoint in the config nor in $ELASTICSEARCH_URL
        raise ValueError(f"{prefix}::{exc}") from None
