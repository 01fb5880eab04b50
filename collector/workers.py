"""``collector run --workers N``: N collector processes sharing the receiver ports, behind one supervisor.

One Python process runs one core's worth of pipeline. With N workers the supervisor (the process started) runs
N children, each a whole collector (`collector.service.Service` in worker mode):

* receivers listen with ``SO_REUSEPORT``: the kernel spreads incoming connections over the workers;
* each worker has its own persistent-queue directory: worker 0 uses the one a single process would (so data
  queued before a change of N is found), worker ``i`` ``<file_storage directory>/worker-<i>``;
* health and self-metrics are the supervisor's: ``health_check`` answers 200 while every worker runs and is
  ready, and the self-metrics endpoint serves the workers' counters summed (prometheus_client's multiprocess
  mode: each worker writes its values to files in a run directory, the supervisor adds them up — counters of a
  worker that died count on, so the totals are what was received);
* SIGTERM / SIGINT: health turns not-ready, every worker is sent SIGTERM and drains as a single collector does
  (receivers stop, ``batch`` flushes, senders drain or persist), the supervisor exits once all have;
* a worker that dies otherwise (``kill -9``, out of memory) is started again with the same index: it takes up
  its persistent queue where the dead one left it.

Components that keep state one process cannot share say so (``MULTI_PROCESS = False`` in their module: the
``prometheus`` pull exporter, the ``file`` exporter writing one file, ``alert_rules`` and its windows): the
default worker count is then 1, and an explicit ``--workers`` above 1 is refused with their names. So is a
receiver listening on port 0: each worker would be given a different free port, and clients could reach only one.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import sys
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog
from pydantic import BaseModel

from collector.component import ComponentID, CreateSettings, Kind
from collector.config import ServiceConfig
from collector.net import split_endpoint

__all__ = ["WorkerInfo", "default_workers", "port_zero_endpoints", "run_supervisor", "single_process_components"]

_log = structlog.get_logger("collector.workers")

#: prometheus_client reads it at import: where a worker's metric values go (set for the workers only).
METRICS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"
_RESTART_DELAY = 0.5
_STOP_GRACE = 120.0  # a worker still draining after this long is killed


@dataclass(frozen=True, slots=True)
class WorkerInfo:
    """What a worker process knows of its place: its index and the supervisor's run directory."""

    index: int
    run_dir: Path

    @property
    def ready_file(self) -> Path:
        return self.run_dir / f"ready-{self.index}"

    def storage_subdir(self, directory: Path) -> Path:
        """Where this worker keeps what a ``file_storage`` extension holds (worker 0: the directory itself)."""
        return directory if self.index == 0 else directory / f"worker-{self.index}"


def single_process_components(config: ServiceConfig) -> list[str]:
    """``kind::id`` of every component used whose module says it cannot run in several processes."""
    names: list[str] = []
    used: dict[Kind, set[ComponentID]] = {Kind.RECEIVER: set(), Kind.PROCESSOR: set(), Kind.EXPORTER: set()}
    for pipe in config.pipelines.values():
        used[Kind.RECEIVER].update(pipe.receivers)
        used[Kind.PROCESSOR].update(pipe.processors)
        used[Kind.EXPORTER].update(pipe.exporters)
    for kind, ids in used.items():
        for cid in sorted(ids, key=str):
            module = config.component(kind, cid).module
            if not getattr(module, "MULTI_PROCESS", True):
                names.append(f"{kind.value}::{cid}")
    return names


def _endpoints(model: BaseModel, path: str) -> Iterable[tuple[str, str]]:
    """``(key path, endpoint)`` of every ``endpoint`` string in a config model and the models inside it."""
    for name in type(model).model_fields:
        value = getattr(model, name)
        if name == "endpoint" and isinstance(value, str):
            yield f"{path}::{name}", value
        elif isinstance(value, BaseModel):
            yield from _endpoints(value, f"{path}::{name}")


def port_zero_endpoints(config: ServiceConfig) -> list[str]:
    """Key paths of the receivers' endpoints that ask for port 0 (any free port): with several workers each would
    listen on a port of its own, and a client would reach only the worker it happened to find."""
    keys: list[str] = []
    used = {cid for pipe in config.pipelines.values() for cid in pipe.receivers}
    for cid in sorted(used, key=str):
        component = config.component(Kind.RECEIVER, cid)
        for key, endpoint in _endpoints(component.config, f"receivers::{cid}"):
            with contextlib.suppress(ValueError):  # the receiver's own validation names a bad endpoint
                if split_endpoint(endpoint)[1] == 0:
                    keys.append(key)
    return keys


def default_workers(config: ServiceConfig) -> tuple[int, str | None]:
    """The cores this process may run on, or 1 (and why) when a component cannot be split over processes."""
    blockers = single_process_components(config)
    if blockers:
        return 1, f"{', '.join(blockers)} keep state one process cannot share"
    zero = port_zero_endpoints(config)
    if zero:
        return 1, f"{', '.join(zero)} ask for port 0, which would give each worker a port of its own"
    return max(1, len(os.sched_getaffinity(0))), None


class _Worker:
    def __init__(self, index: int, argv: list[str], env: dict[str, str]) -> None:
        self.index = index
        self._argv = argv
        self._env = env
        self.process: asyncio.subprocess.Process | None = None
        self.restarts = 0
        self.ready_seen = False  # became ready since it was (re)started

    async def spawn(self) -> None:
        self.process = await asyncio.create_subprocess_exec(*self._argv, env=self._env,
                                                            preexec_fn=_die_with_parent)
        _log.info("collector_worker_started", worker=self.index, pid=self.process.pid)


_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the worker, before it runs: a supervisor that dies (``kill -9``) takes its workers with it, as one
    process would have died — nothing is left holding the ports and the queue directories."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


class _SupervisorHealth:
    """The supervisor's view for ``health_check``: ready while every worker runs and said it is ready."""

    def __init__(self, workers: list[_Worker], run_dir: Path) -> None:
        self._workers = workers
        self._run_dir = run_dir
        self.stopping = False

    def ready(self) -> bool:
        if self.stopping:
            return False
        return all(w.process is not None and w.process.returncode is None
                   and (self._run_dir / f"ready-{w.index}").exists() for w in self._workers)


class _SummedMetrics:
    """Renders the workers' metrics summed (prometheus_client multiprocess collector), without ``*_created``."""

    def __init__(self, directory: Path) -> None:
        from prometheus_client import CollectorRegistry, multiprocess  # noqa: PLC0415 - supervisor only

        from collector.telemetry import without_created  # noqa: PLC0415

        self._registry = CollectorRegistry(auto_describe=False)
        multiprocess.MultiProcessCollector(self._registry, path=str(directory))  # type: ignore[no-untyped-call]
        self._exposed = without_created(self._registry)

    def render(self) -> bytes:
        from prometheus_client import generate_latest  # noqa: PLC0415

        return generate_latest(self._exposed)


def _worker_argv(config_path: str, index: int, run_dir: Path) -> list[str]:
    return [sys.executable, "-m", "otel_distro.cli", "collector", "run", "--config", config_path,
            "--workers", "1", "--worker-index", str(index), "--worker-run-dir", str(run_dir)]


async def _serve_health(config: ServiceConfig, health: _SupervisorHealth) -> list[Any]:
    """The configured ``health_check`` extensions, served by the supervisor on the workers' behalf."""
    from collector.extensions.health_check import Config, HealthCheck  # noqa: PLC0415

    servers: list[Any] = []
    for eid in config.extensions:
        comp = config.component(Kind.EXTENSION, eid)
        if eid.type != "health_check" or not isinstance(comp.config, Config):
            continue
        server = HealthCheck(CreateSettings(id=eid), comp.config, ready=health.ready)
        await server.start()
        servers.append(server)
    return servers


def _warn_orphan_queues(config: ServiceConfig, n: int) -> None:
    for eid in config.extensions:
        directory = getattr(config.component(Kind.EXTENSION, eid).config, "directory", None)
        if eid.type != "file_storage" or not isinstance(directory, Path) or not directory.is_dir():
            continue
        for sub in directory.glob("worker-*"):
            index = sub.name.removeprefix("worker-")
            if index.isdigit() and int(index) >= n and any(sub.iterdir()):
                _log.warning("collector_worker_queue_left", directory=str(sub),
                             hint=f"run with --workers {int(index) + 1} or more to send what it holds")


async def _supervise(config: ServiceConfig, config_path: str, n: int, run_dir: Path) -> int:
    metrics_dir = run_dir / "metrics"
    metrics_dir.mkdir()
    env = {**os.environ, METRICS_DIR_ENV: str(metrics_dir)}
    workers = [_Worker(i, _worker_argv(config_path, i, run_dir), env) for i in range(n)]
    health = _SupervisorHealth(workers, run_dir)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    _warn_orphan_queues(config, n)
    servers: list[Any] = []
    metrics_server: Any = None
    healthy = False
    try:
        servers = await _serve_health(config, health)
        if config.telemetry.metrics_address is not None:
            from collector.telemetry import MetricsServer  # noqa: PLC0415

            metrics_server = MetricsServer(_SummedMetrics(metrics_dir), config.telemetry.metrics_address)
            await metrics_server.start()
        # the first alone: a configuration that cannot start (a port taken) fails once, with one message
        if await _start_first(workers[0], run_dir, stop):
            for w in workers[1:]:
                await w.spawn()
            _log.info("collector_workers_running", workers=n)
            healthy = await _watch(workers, stop, run_dir)
    finally:
        health.stopping = True
        await _stop_all(workers)
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        for server in servers:
            await server.shutdown()
        if metrics_server is not None:
            await metrics_server.shutdown()
    failed = [w.index for w in workers if w.process is not None and w.process.returncode not in (0, None)]
    _log.info("collector_workers_stopped", workers=n, failed=failed)
    return 0 if healthy and not failed else 1


async def _start_first(worker: _Worker, run_dir: Path, stop: asyncio.Event) -> bool:
    """Start ``worker`` and wait until it is ready (True) or has exited (False)."""
    await worker.spawn()
    ready = run_dir / f"ready-{worker.index}"
    while worker.process is not None and worker.process.returncode is None and not stop.is_set():
        if ready.exists():
            return True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(worker.process.wait()), 0.05)
    if worker.process is not None and worker.process.returncode is not None:
        _log.error("collector_worker_failed_to_start", worker=worker.index, pid=worker.process.pid,
                   returncode=worker.process.returncode)
    return False


async def _watch(workers: list[_Worker], stop: asyncio.Event, run_dir: Path) -> bool:
    """Until ``stop``: start again any worker that exits after it was ready. A worker that exits before it
    ever was (a port taken, a queue directory locked) stops them all: False."""
    stopping = asyncio.ensure_future(stop.wait())
    try:
        while not stop.is_set():
            for w in workers:
                w.ready_seen = w.ready_seen or (run_dir / f"ready-{w.index}").exists()
            waits = {asyncio.ensure_future(w.process.wait()): w for w in workers if w.process is not None}
            done, pending = await asyncio.wait({stopping, *waits}, timeout=0.5,
                                               return_when=asyncio.FIRST_COMPLETED)
            for fut in pending:
                if fut is not stopping:
                    fut.cancel()
            if stop.is_set():
                return True
            for fut in done:
                worker = waits.get(fut)
                if worker is None or worker.process is None:
                    continue
                code, pid = worker.process.returncode, worker.process.pid
                (run_dir / f"ready-{worker.index}").unlink(missing_ok=True)
                _mark_dead(run_dir / "metrics", pid)
                if not worker.ready_seen:
                    _log.error("collector_worker_failed_to_start", worker=worker.index, pid=pid, returncode=code)
                    return False
                worker.restarts += 1
                worker.ready_seen = False
                _log.error("collector_worker_exited", worker=worker.index, pid=pid, returncode=code,
                           restarts=worker.restarts)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(stopping), _RESTART_DELAY)
                if stop.is_set():
                    return True
                await worker.spawn()
        return True
    finally:
        stopping.cancel()


def _mark_dead(metrics_dir: Path, pid: int) -> None:
    """Drop a dead worker's live gauges (its counters stay: they are part of the totals)."""
    from prometheus_client import multiprocess  # noqa: PLC0415

    with contextlib.suppress(OSError):
        multiprocess.mark_process_dead(pid, str(metrics_dir))  # type: ignore[no-untyped-call]


async def _stop_all(workers: Iterable[_Worker]) -> None:
    running = [w for w in workers if w.process is not None and w.process.returncode is None]
    for w in running:
        if w.process is not None:
            with contextlib.suppress(ProcessLookupError):
                w.process.send_signal(signal.SIGTERM)
    _log.info("collector_workers_draining", workers=len(running))

    async def wait(w: _Worker) -> None:
        if w.process is None:
            return
        try:
            await asyncio.wait_for(w.process.wait(), _STOP_GRACE)
        except TimeoutError:
            _log.error("collector_worker_drain_timeout", worker=w.index, seconds=_STOP_GRACE)
            with contextlib.suppress(ProcessLookupError):
                w.process.kill()
            await w.process.wait()

    await asyncio.gather(*(wait(w) for w in running))


def run_supervisor(config: ServiceConfig, config_path: str, n: int) -> int:
    """Run ``n`` workers until SIGTERM / SIGINT; the exit code is 1 when a worker failed to drain cleanly."""
    with tempfile.TemporaryDirectory(prefix="otelcol-workers-") as tmp:
        return asyncio.run(_supervise(config, config_path, n, Path(tmp)))
