"""The OTLP pipeline service, configured like the OpenTelemetry Collector (``otel-collector.yaml``).

Where things are:

* `collector.config` — loading and checking a configuration (``load``, ``ConfigError``);
* `collector.service` — ``Service``: start, run, drain; `collector.pipeline` — the graph it runs;
* `collector.component` — what every component module looks like; `collector.registry` — the list of them;
* `collector.pdata` — ``Batch``, the OTLP request that flows; `collector.otlpjson` — its OTLP/JSON encoding;
* `collector.errors` — the exceptions that cross components; `collector.sending` — queue, retry, timeout;
* `collector.testing` — ``running_collector()`` for tests; `collector.cli` — ``otel-distro collector ...``.

Components live in ``receivers/``, ``processors/``, ``exporters/`` and ``extensions/``.
"""
