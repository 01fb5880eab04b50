"""Builds and installs the tracer, meter and logger providers, the exporters and the log pipeline.

Exporters follow the standard variables (``OTEL_{TRACES,METRICS,LOGS}_EXPORTER``, ``OTEL_EXPORTER_OTLP_*``);
the distro only changes their defaults (see `otel_distro.distro`). Processor order on each provider:
scrubbing first, then derived metrics, then the batching export processors.
"""

from __future__ import annotations

import atexit
import logging
import multiprocessing.util
import os
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry._logs import set_logger_provider
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, LogRecordExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricExporter, MetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

from otel_distro._internal import fastpath, guard, logs
from otel_distro._internal.db_metrics import DbDurationSpanProcessor
from otel_distro._internal.fastpath import exporters as exporter_bounds
from otel_distro._internal.fastpath import prometheus as shared_prometheus
from otel_distro._internal.fastpath import sdk, uvicorn_server
from otel_distro._internal.fastpath.log_records import direct_queues
from otel_distro._internal.fastpath.request_duration import RequestDurationHistogram, periodic_reader, pre_aggregate
from otel_distro._internal.resource import build_resource, process_resource
from otel_distro._internal.scrub import install_client_id_check, scrubbing_hooks
from otel_distro.settings import Settings

__all__ = ["Runtime", "add_shutdown_hook", "configure", "runtime"]

_logger = logging.getLogger("otel_distro")


@dataclass(slots=True)
class Runtime:
    """What `configure` installed, for the routes (/metrics), the fork hook and shutdown."""

    settings: Settings
    resource: Resource
    tracer_provider: TracerProvider
    meter_provider: MeterProvider
    logger_provider: LoggerProvider
    prometheus: MetricReader | None = None
    exporters: list[Any] = field(default_factory=list)
    #: The middleware's pre-aggregated request histogram, where every reader reports it (see `request_duration`).
    request_duration: RequestDurationHistogram | None = None
    parent_pid: int = field(default_factory=os.getpid)


_runtime: Runtime | None = None


def runtime() -> Runtime | None:
    """The installed runtime, or None when the distro did not configure this process."""
    return _runtime


def _prometheus_reader(settings: Settings) -> MetricReader | None:
    if settings.prometheus == "off":
        return None
    from opentelemetry.exporter.prometheus import PrometheusMetricReader  # noqa: PLC0415

    return PrometheusMetricReader()


def configure(settings: Settings, *, auto_instrumentation_version: str | None = None) -> Runtime:
    """Install global providers and logging for ``settings``; called once per process by the configurator."""
    global _runtime  # noqa: PLW0603
    resource = build_resource(settings)
    if auto_instrumentation_version:
        resource = resource.merge(Resource({"telemetry.auto.version": auto_instrumentation_version}))
    span_exporters, metric_exporters, log_exporters = sdk.exporter_classes()
    scrub = scrubbing_hooks(settings)
    install_client_id_check(scrub)
    exporters: list[Any] = []

    readers: list[MetricReader] = []
    prometheus: MetricReader | None = None
    for exporter_or_reader in metric_exporters.values():
        if issubclass(exporter_or_reader, MetricReader):
            readers.append(exporter_or_reader())
        elif issubclass(exporter_or_reader, MetricExporter):
            metric_exporter = exporter_bounds.bound_at_exit(exporter_or_reader())
            exporters.append(metric_exporter)
            if prometheus is None and settings.prometheus != "off" and shared_prometheus.can_share(metric_exporter):
                # /metrics renders this reader's collections: each measurement is aggregated once, not twice.
                prometheus = shared_prometheus.SharedPrometheusReader(metric_exporter)
                readers.append(prometheus)
            else:
                readers.append(periodic_reader(metric_exporter))
    if prometheus is None:
        prometheus = _prometheus_reader(settings)
        if prometheus is not None:
            readers.append(prometheus)
    meter_provider = MeterProvider(resource=resource, metric_readers=readers)
    metrics.set_meter_provider(meter_provider)
    request_duration = pre_aggregate(meter_provider, readers)

    tracer_provider = TracerProvider(resource=resource)
    span_processors: list[SpanProcessor] = [DbDurationSpanProcessor(meter_provider)]
    for span_exporter_cls in span_exporters.values():
        span_exporter: SpanExporter = exporter_bounds.make_exporter(span_exporter_cls)
        exporters.append(span_exporter)
        span_processors.append(BatchSpanProcessor(span_exporter))
    for span_processor in scrub.span_chain(span_processors):
        tracer_provider.add_span_processor(span_processor)
    trace.set_tracer_provider(tracer_provider)

    logger_provider = LoggerProvider(resource=resource)
    for log_processor in scrub.log_record_processors:
        logger_provider.add_log_record_processor(log_processor)
    batch_log_processors: list[BatchLogRecordProcessor] = []
    all_fast = True
    for log_exporter_cls in log_exporters.values():
        log_exporter: LogRecordExporter = exporter_bounds.make_exporter(log_exporter_cls)
        all_fast = all_fast and exporter_bounds.is_fast_exporter(log_exporter)
        exporters.append(log_exporter)
        batch_log_processors.append(BatchLogRecordProcessor(log_exporter))
        logger_provider.add_log_record_processor(batch_log_processors[-1])
    set_logger_provider(logger_provider)

    pre_scrubbed = scrub.structlog is not None
    # The log chain hands its records straight to the batch processors when their exporters read plain fields
    # (the distro's OTLP/HTTP ones) and nothing else would have run in between (the scrubber already did).
    direct = direct_queues(
        batch_log_processors,
        exporters_read_plain_fields=all_fast,
        nothing_between=pre_scrubbed or not scrub.log_record_processors,
    )
    emitter = (
        logs.OtelLogEmitter(logger_provider, pre_scrubbed=pre_scrubbed, direct=direct)
        if settings.log_export and log_exporters
        else None
    )
    pipeline = logs.build_pipeline(log_format=settings.log_format, emitter=emitter, scrubber=scrub.structlog)
    logs.install(pipeline, level=settings.log_level, access_log=settings.access_log)

    _runtime = Runtime(
        settings, resource, tracer_provider, meter_provider, logger_provider, prometheus, exporters, request_duration
    )
    os.register_at_fork(after_in_child=_after_fork_in_child)
    # atexit (registered by the SDK providers) does not run in children that leave through os._exit, as
    # multiprocessing's fork workers do; its finalizers do. Flushing twice is harmless.
    multiprocessing.util.Finalize(None, flush, exitpriority=100)
    # Registered after the providers' own atexit shutdown, so it runs before them (atexit is LIFO).
    atexit.register(_mark_exiting)
    _flush_on_sigterm()
    _flush_after_uvicorn_shutdown()
    fastpath.report()
    _logger.info(
        "telemetry_configured",
        extra={
            "service_name": resource.attributes.get("service.name"),
            "traces_exporters": sorted(span_exporters),
            "metrics_exporters": sorted(metric_exporters),
            "logs_exporters": sorted(log_exporters),
            "prometheus": prometheus is not None,
            "scrubbing": scrub.structlog is not None,
            "fast_path": fastpath.active(),
        },
    )
    return _runtime


_exiting = False


def _mark_exiting() -> None:
    """At a normal exit the SDK's atexit shutdown flushes; a flush after it would only warn.

    That shutdown waits for the collector at most `exporters.EXIT_FLUSH_SECONDS` in all (none running must
    not hold up a Ctrl-C).
    """
    global _exiting  # noqa: PLW0603
    _exiting = True
    with exporter_bounds.exit_budget(permanent=True):
        pass


def flush(timeout_millis: int = 5000) -> None:
    """Push out everything buffered (spans, log records, metrics); safe to call any number of times."""
    current = _runtime
    if current is None or _exiting:
        return
    for provider in (current.tracer_provider, current.logger_provider, current.meter_provider):
        try:
            provider.force_flush(timeout_millis)
        except Exception as exc:
            guard.internal_error("flush", exc)


def _flush_on_sigterm() -> None:
    """Flush before a SIGTERM ends the process: atexit does not run when a signal kills it.

    uvicorn (single process and each ``--workers`` child) handles SIGTERM gracefully, then restores the
    previous handler and re-raises the signal so the exit status says "terminated"; with the default handler
    the process dies there, and whatever the batch processors hold is lost. The distro's handler, found
    there instead, flushes every provider first and then dies by SIGTERM the same way. Installed only in
    the main thread and only when nothing else handles SIGTERM.
    """
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        return
    signal.signal(signal.SIGTERM, _on_sigterm)


def _flush_after_uvicorn_shutdown() -> None:
    """Flush when a uvicorn server (alone, a ``--workers`` child, or gunicorn's UvicornWorker) has shut down.

    Covers the servers that reset SIGTERM to the default before re-raising it (gunicorn's uvicorn worker
    does), where `_flush_on_sigterm` cannot help (`fastpath.uvicorn_server`; off its known releases, when the
    app's lifespan ends).
    """
    uvicorn_server.after_shutdown(_flush_at_exit)


def _flush_at_exit() -> None:
    with exporter_bounds.exit_budget():
        flush()


_shutdown_hooks: list[Callable[[], object]] = []


def add_shutdown_hook(hook: Callable[[], object]) -> None:
    """Run ``hook`` before a SIGTERM ends the process, ahead of the telemetry flush (analytics writes its
    buffer there); once per hook however often it is added."""
    if hook not in _shutdown_hooks:
        _shutdown_hooks.append(hook)


def _on_sigterm(signum: int, _frame: object) -> None:
    try:
        for hook in list(_shutdown_hooks):
            try:
                hook()
            except Exception as exc:  # never keep the process from ending
                _logger.error("shutdown_hook_failed", extra={"error_type": type(exc).__name__})
        with exporter_bounds.exit_budget(permanent=True):
            flush(timeout_millis=5000)
    finally:
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)


def _after_fork_in_child() -> None:
    """The SDK restarts its batch threads and renews ``service.instance.id`` after fork; the rest is ours.

    The providers' resources get the child's pid; exporters drop HTTP connections inherited from
    the parent (a socket shared by two processes interleaves their requests); system metrics measure the
    child, not the master.
    """
    current = _runtime
    if current is None:
        return
    try:
        pid = process_resource()
        for provider in (current.tracer_provider, current.meter_provider, current.logger_provider):
            sdk.update_resource(provider, pid)
        for exporter in current.exporters:
            sdk.drop_inherited_connections(exporter)
        if current.request_duration is not None:
            current.request_duration.after_fork()
        sdk.renew_system_metrics_process()
    except Exception as exc:
        guard.internal_error("after_fork", exc)
