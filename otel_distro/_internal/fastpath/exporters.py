"""The OTLP exporters the distro installs: upstream's, with a cheaper encoder and a bounded wait at exit.

`fast_exporter_class` swaps upstream's OTLP/HTTP span and log exporters for subclasses that serialize with
`otlp_encode` (bytes written directly, about a third of the encoding time, on threads that share the GIL
with the request handlers); everything else — HTTP client, retries, compression, headers, self-metrics — is
upstream's. An encoding failure falls back to upstream's own encoder for that batch.

At exit (atexit, SIGTERM, uvicorn's shutdown) the distro flushes every provider. With the collector up that
takes milliseconds; with none running, each upstream export retries a refused connection with backoff until
its 10 s timeout, per batch and per signal, so a developer's Ctrl-C would hang for half a minute. Inside
`exit_budget` every export shares one deadline: a refused export gives up when it is reached and later ones
return at once, while a reachable collector still receives everything. Exports already waiting out a
retry backoff when the budget begins are woken and give up (their collector was not answering).
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from otel_distro._internal import fastpath
from otel_distro._internal.fastpath import otlp_encode

__all__ = [
    "EXIT_FLUSH_SECONDS",
    "bound_at_exit",
    "exit_budget",
    "fast_exporter_class",
    "is_fast_exporter",
    "make_exporter",
]

#: How long the flush at exit may wait for the collector, over all signals together.
EXIT_FLUSH_SECONDS = 3.0
#: The budget of a later flush at exit when an earlier one found no collector answering.
_AFTER_SILENCE_SECONDS = 0.5

_lock = threading.Lock()
_deadline: float | None = None
#: The retry-wait events of the bounded clients and exporters (set wakes a backoff wait).
_retry_waits: weakref.WeakSet[threading.Event] = weakref.WeakSet()
#: Whether the last export under a budget failed (the collector is not answering).
_silent = False


@contextmanager
def exit_budget(seconds: float | None = None, *, permanent: bool = False) -> Iterator[None]:
    """Exports started inside share a deadline ``seconds`` from now (for good with ``permanent``).

    Default: `EXIT_FLUSH_SECONDS`, or half a second when a flush before found the collector silent.
    """
    global _deadline  # noqa: PLW0603
    if seconds is None:
        seconds = _AFTER_SILENCE_SECONDS if _silent else EXIT_FLUSH_SECONDS
    with _lock:
        previous = _deadline
        ours = time.time() + seconds
        _deadline = ours if previous is None else min(previous, ours)
    _wake_retry_waits()
    try:
        yield
    finally:
        if not permanent:
            with _lock:
                _deadline = previous


def _wake_retry_waits() -> None:
    """Cut short the backoff waits under way (a wait woken this way ends its export as failed)."""
    for event in list(_retry_waits):
        if not event.is_set():
            event.set()
            event.clear()


def _remaining() -> float | None:
    deadline = _deadline
    return None if deadline is None else deadline - time.time()


def bound_at_exit(exporter: Any) -> Any:
    """Make ``exporter`` respect `exit_budget` (upstream OTLP/HTTP and OTLP/gRPC exporters; others as they are)."""
    if not fastpath.active():
        return exporter
    client = getattr(exporter, "_client", None)
    if client is not None and hasattr(client, "_timeout") and callable(getattr(client, "export", None)):
        _bound_http_client(client)
    elif hasattr(exporter, "_timeout") and callable(getattr(exporter, "_export", None)):
        _bound_grpc_exporter(exporter)
    return exporter


def _bound_http_client(client: Any) -> None:
    """``_OTLPHTTPClient.export`` retries until ``now + _timeout``: lower that to the budget, or skip."""
    original = client.export
    if getattr(original, "__otel_distro__", False):
        return
    configured = float(client._timeout)
    result_type = _http_result_type()
    if isinstance(getattr(client, "_shutdown_event", None), threading.Event):
        _retry_waits.add(client._shutdown_event)

    def export(data: bytes) -> Any:
        global _silent  # noqa: PLW0603
        remaining = _remaining()
        if remaining is None:
            client._timeout = configured
            return original(data)
        if remaining <= 0:
            _silent = True
            return result_type(False, None, "exit flush budget spent", None)
        client._timeout = min(configured, remaining)
        result = original(data)
        _silent = not getattr(result, "success", False)
        return result

    export.__otel_distro__ = True  # type: ignore[attr-defined]
    client.export = export


def _http_result_type() -> Any:
    from opentelemetry.exporter.otlp.common.http import _ExportResult  # noqa: PLC0415

    return _ExportResult


def _bound_grpc_exporter(exporter: Any) -> None:
    original = exporter._export
    if getattr(original, "__otel_distro__", False):
        return
    configured = float(exporter._timeout)
    failure = _grpc_failure(exporter)
    if isinstance(getattr(exporter, "_shutdown_in_progress", None), threading.Event):
        _retry_waits.add(exporter._shutdown_in_progress)

    def _export(*args: Any, **kwargs: Any) -> Any:
        remaining = _remaining()
        if remaining is None:
            exporter._timeout = configured
        elif remaining <= 0:
            return failure
        else:
            exporter._timeout = min(configured, remaining)
        return original(*args, **kwargs)

    _export.__otel_distro__ = True  # type: ignore[attr-defined]
    exporter._export = _export


def _grpc_failure(exporter: Any) -> Any:
    result_type = getattr(exporter, "_result", None)
    return getattr(result_type, "FAILURE", None)


def _export_bytes(exporter: Any, batch: Sequence[Any], encode: Callable[[Sequence[Any]], bytes]) -> bool | None:
    """Upstream's HTTP export with ``encode`` as the serializer: True/False for success, None when ``encode``
    failed (the caller then lets upstream encode and export the batch, which counts it in the exporter's
    self-metrics; so the batch is encoded before this export's operation is opened, not counted twice)."""
    try:
        data = encode(batch)
    except Exception:
        return None
    with exporter._metrics.export_operation(len(batch)) as result:
        limit = getattr(exporter, "_max_request_size", 0)
        if limit and limit > 0 and len(data) > limit:
            result.error = ValueError(f"serialized request of {len(data)} bytes exceeds max_request_size {limit}")
            return False
        outcome = exporter._client.export(data)
        if not outcome.success:
            result.error = outcome.error
            result.error_attrs = (
                {"http.response.status_code": outcome.status_code} if outcome.status_code is not None else None
            )
            return False
    return True


class _Fast:
    """Marks the distro's exporters, which encode with `otlp_encode` (plain attribute reads, no SDK types)."""


def is_fast_exporter(exporter: object) -> bool:
    return isinstance(exporter, _Fast)


def _fast_span_exporter() -> type[Any]:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter  # noqa: PLC0415
    from opentelemetry.sdk.trace.export import SpanExportResult  # noqa: PLC0415

    class FastOTLPSpanExporter(OTLPSpanExporter, _Fast):
        """Upstream's OTLP/HTTP span exporter, serializing with `otlp_encode.encode_spans`."""

        def export(self, spans: Sequence[Any]) -> SpanExportResult:
            if self._shutdown or not spans:
                return super().export(spans)
            ok = _export_bytes(self, spans, otlp_encode.encode_spans)
            if ok is None:
                return super().export(spans)
            return SpanExportResult.SUCCESS if ok else SpanExportResult.FAILURE

    return FastOTLPSpanExporter


def _fast_log_exporter() -> type[Any]:
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter  # noqa: PLC0415
    from opentelemetry.sdk._logs.export import LogRecordExportResult  # noqa: PLC0415

    class FastOTLPLogExporter(OTLPLogExporter, _Fast):
        """Upstream's OTLP/HTTP log exporter, serializing with `otlp_encode.encode_logs`."""

        def export(self, batch: Sequence[Any]) -> LogRecordExportResult:
            if self._shutdown or not batch:
                return super().export(batch)
            ok = _export_bytes(self, batch, otlp_encode.encode_logs)
            if ok is None:
                return super().export(batch)
            return LogRecordExportResult.SUCCESS if ok else LogRecordExportResult.FAILURE

    return FastOTLPLogExporter


_FAST: dict[str, Callable[[], type[Any]]] = {
    "opentelemetry.exporter.otlp.proto.http.trace_exporter.OTLPSpanExporter": _fast_span_exporter,
    "opentelemetry.exporter.otlp.proto.http._log_exporter.OTLPLogExporter": _fast_log_exporter,
}


def fast_exporter_class(cls: type[Any]) -> type[Any]:
    """The distro's faster subclass for upstream's OTLP/HTTP span or log exporter ``cls``, else ``cls`` itself.

    Only when the installed upstream has the parts the subclass relies on (an HTTP client with ``export`` and
    self-metrics); any other exporter, or another upstream shape, is left as it is.
    """
    make = _FAST.get(f"{cls.__module__}.{cls.__qualname__}")
    if make is None or not fastpath.active():
        return cls
    try:
        fast = make()
        probe = fast.__mro__[1]
        if not callable(getattr(probe, "export", None)):
            return cls
    except Exception:
        return cls
    return fast


def make_exporter(cls: type[Any]) -> Any:
    """An instance of ``cls`` (upstream's OTLP/HTTP span and log exporters get the faster encoder), bounded at exit;
    when the faster one cannot be built on this upstream (or lacks the client and self-metrics it writes through),
    upstream's own."""
    fast = fast_exporter_class(cls)
    try:
        exporter = fast()
        if fast is not cls and not (hasattr(exporter, "_client") and hasattr(exporter, "_metrics")):
            exporter = cls()
    except Exception:
        if fast is cls:
            raise
        exporter = cls()
    return bound_at_exit(exporter)
