"""Run a collector inside a plain (sync) test.

``running_collector`` starts a `collector.service.Service` in a background thread with its own event loop,
waits until every pipeline is running (ports are listening), yields a handle, and on exit shuts the service
down with draining — so whatever was accepted has reached the exporters — then stops the thread::

    from collector.testing import running_collector
    from tests.support import free_port

    port = free_port()
    config = {
        "receivers": {"otlp": {"protocols": {"http": {"endpoint": f"127.0.0.1:{port}"}}}},
        "exporters": {"file": {"path": str(tmp_path / "out.jsonl")}},
        "service": {"pipelines": {"traces": {"receivers": ["otlp"], "exporters": ["file"]}},
                    "telemetry": {"metrics": {"level": "none"}}},
    }
    with running_collector(config) as c:
        ...  # send OTLP to http://127.0.0.1:{port}/v1/traces
        c.call(some_coroutine())  # run a coroutine on the collector's loop, get its result
    # here the collector is stopped and drained

The config is a mapping (as parsed from YAML, ``${env:...}`` expanded) or a path to a YAML file. Set
``service::telemetry::metrics::level: none`` (or a free ``address``) so tests don't contend for :8888.
``c.telemetry`` is a `RecordingTelemetry` unless one is passed (or ``self_metrics=True``):
``c.telemetry.value("otelcol_exporter_sent_spans", exporter="file")``.
"""

from __future__ import annotations

import asyncio
import threading
from collections import defaultdict
from collections.abc import Coroutine, Iterator, Mapping
from concurrent.futures import Future
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from collector.component import Telemetry
from collector.service import Service

__all__ = ["RecordingTelemetry", "RunningCollector", "running_collector"]

T = TypeVar("T")


class RecordingTelemetry:
    """A `Telemetry` that keeps every value in memory, for assertions."""

    def __init__(self) -> None:
        self.values: dict[str, dict[tuple[tuple[str, str], ...], float]] = defaultdict(lambda: defaultdict(float))
        self._lock = threading.Lock()

    def add(self, name: str, value: float, attributes: Mapping[str, str] | None = None, *,
            description: str = "") -> None:
        with self._lock:
            self.values[name][tuple(sorted((attributes or {}).items()))] += value

    def set(self, name: str, value: float, attributes: Mapping[str, str] | None = None, *,
            description: str = "") -> None:
        with self._lock:
            self.values[name][tuple(sorted((attributes or {}).items()))] = value

    def observe(self, name: str, value: float, attributes: Mapping[str, str] | None = None, *,
                description: str = "") -> None:
        self.add(name + "_count", 1, attributes)

    def value(self, name: str, **attributes: str) -> float:
        """The sum over every series of ``name`` whose attributes include ``attributes``."""
        with self._lock:
            series = dict(self.values.get(name, {}))
        want = set(attributes.items())
        return sum(v for k, v in series.items() if want <= set(k))


class RunningCollector:
    def __init__(self, service: Service, loop: asyncio.AbstractEventLoop) -> None:
        self.service = service
        self.loop = loop

    @property
    def telemetry(self) -> Any:
        return self.service.telemetry

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        """Run ``coro`` on the collector's event loop and return its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)


@contextmanager
def running_collector(
    config: Mapping[str, Any] | str | Path,
    *,
    environ: Mapping[str, str] | None = None,
    telemetry: Telemetry | None = None,
    self_metrics: bool = False,
    timeout: float = 30.0,
) -> Iterator[RunningCollector]:
    """Run a collector for the duration of a ``with`` block (see the module docstring). With ``self_metrics``
    the collector serves its own metrics as configured (``service::telemetry``) instead of recording them."""
    if telemetry is None and not self_metrics:
        telemetry = RecordingTelemetry()
    service = Service.from_config(config, environ=environ, telemetry=telemetry)
    loop = asyncio.new_event_loop()
    started: Future[None] = Future()
    stop = asyncio.Event()
    stopped: Future[None] = Future()

    async def main() -> None:
        try:
            await service.start()
        except BaseException as exc:
            started.set_exception(exc)
            return
        started.set_result(None)
        try:
            await stop.wait()
        finally:
            try:
                await service.shutdown()
            finally:
                stopped.set_result(None)

    def thread_main() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(main())
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            loop.close()

    thread = threading.Thread(target=thread_main, name="collector-under-test", daemon=True)
    thread.start()
    try:
        started.result(timeout)
    except BaseException:
        thread.join(timeout)
        raise
    try:
        yield RunningCollector(service, loop)
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout)
        if thread.is_alive():
            raise RuntimeError("the collector did not shut down in time")
