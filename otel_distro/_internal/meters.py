"""Cheaper request metrics: instruments nobody reads are not recorded, counters are pre-aggregated.

Every synchronous measurement costs an attribute hash and an aggregation per metric reader (one here: /metrics
renders the OTLP reader's collections, see `prometheus`). The ASGI instrumentation records five per request; the
distro keeps the one the dashboards use (``http.server.request.duration``) and drops the in-flight gauge and the
body-size histograms. Its own request and error counters are plain dict increments, read by observable counters
at collection time.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterable
from typing import Any

from opentelemetry.metrics import (
    CallbackOptions,
    MeterProvider,
    NoOpCounter,
    NoOpHistogram,
    NoOpUpDownCounter,
    Observation,
)

__all__ = ["DEFAULT_DROPPED", "DroppingMeterProvider", "RequestCounters", "request_counters"]

#: Instruments of the HTTP server instrumentation the distro does not record by default.
DEFAULT_DROPPED = frozenset(
    {
        "http.server.active_requests",
        "http.server.request.body.size",
        "http.server.response.body.size",
        "http.server.request.size",
        "http.server.response.size",
    }
)

_NOOP = {
    "create_counter": NoOpCounter,
    "create_up_down_counter": NoOpUpDownCounter,
    "create_histogram": NoOpHistogram,
}


class _DroppingMeter:
    def __init__(self, meter: Any, dropped: frozenset[str]) -> None:
        self._meter = meter
        self._dropped = dropped

    def __getattr__(self, attribute: str) -> Any:
        real = getattr(self._meter, attribute)
        noop = _NOOP.get(attribute)
        if noop is None:
            return real
        dropped = self._dropped

        def create(name: str, *args: Any, **kwargs: Any) -> Any:
            return noop(name) if name in dropped else real(name, *args, **kwargs)

        return create


class DroppingMeterProvider:
    """A meter provider view whose meters hand out no-op instruments for the names in ``dropped``."""

    def __init__(self, delegate: MeterProvider, dropped: frozenset[str] = DEFAULT_DROPPED) -> None:
        self._delegate = delegate
        self._dropped = dropped

    def get_meter(self, name: str, *args: Any, **kwargs: Any) -> Any:
        return _DroppingMeter(self._delegate.get_meter(name, *args, **kwargs), self._dropped)


class RequestCounters:
    """``http.server.request.count`` and ``http.server.error.count`` by method, route and status class."""

    def __init__(self, meter_provider: MeterProvider) -> None:
        self._requests: dict[tuple[str, str, str], int] = {}
        self._errors: dict[tuple[str, str, str], int] = {}
        self._lock = threading.Lock()
        meter = meter_provider.get_meter("otel_distro.requests")
        meter.create_observable_counter(
            "http.server.request.count",
            callbacks=[self._observe_requests],
            unit="{request}",
            description="HTTP requests served, by method, route and status class.",
        )
        meter.create_observable_counter(
            "http.server.error.count",
            callbacks=[self._observe_errors],
            unit="{request}",
            description="HTTP requests that ended in a 5xx status or an unhandled exception.",
        )

    def add(self, method: str, route: str, status_class: str, *, error: bool) -> None:
        key = (method, route, status_class)
        # Called from the event loop thread only (the middleware is async); the lock guards collection copies.
        self._requests[key] = self._requests.get(key, 0) + 1
        if error:
            self._errors[key] = self._errors.get(key, 0) + 1

    def _observe(self, counts: dict[tuple[str, str, str], int]) -> Iterable[Observation]:
        with self._lock:
            snapshot = list(counts.items())
        return [
            Observation(
                value,
                {"http.request.method": method, "http.route": route, "http.response.status_class": status_class},
            )
            for (method, route, status_class), value in snapshot
        ]

    def _observe_requests(self, _: CallbackOptions) -> Iterable[Observation]:
        return self._observe(self._requests)

    def _observe_errors(self, _: CallbackOptions) -> Iterable[Observation]:
        return self._observe(self._errors)


_counters: weakref.WeakKeyDictionary[Any, RequestCounters] = weakref.WeakKeyDictionary()


def request_counters(meter_provider: MeterProvider) -> RequestCounters:
    """The one `RequestCounters` of ``meter_provider`` (instruments are registered once per provider)."""
    counters = _counters.get(meter_provider)
    if counters is None:
        counters = _counters[meter_provider] = RequestCounters(meter_provider)
    return counters
