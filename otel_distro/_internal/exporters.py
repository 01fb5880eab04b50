"""The OTLP exporters the distro installs: upstream's, with a bounded wait at exit.

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
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["EXIT_FLUSH_SECONDS", "bound_at_exit", "exit_budget"]

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
