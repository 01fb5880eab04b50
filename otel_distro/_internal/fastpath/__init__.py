"""The fast path: every use of OpenTelemetry internals, in one room, behind one version check.

The distro is cheap on the request path because it reaches past the SDK's public API in a few places (see
otel_distro/README.md, "Overhead"). Private names can change in any release, so all of it lives here:

- `server_span`: server spans built without ``Span.__init__``'s copies, the provider's sampler, processors and
  limits read from private fields, processors' empty hooks found by their bytecode;
- `request_duration`: the middleware's pre-aggregated histogram added to the metric readers' collections
  (``_receive_metrics``, ``_sdk_config``, the exporter's preferred temporality and aggregation);
- `prometheus`: /metrics rendered from the OTLP reader's collections (the Prometheus exporter's ``_CustomCollector``);
- `exporters`, `otlp_encode`: the OTLP/HTTP exporters writing protobuf directly, through upstream's client and
  self-metrics, and the exporters' wait bounded at exit (their private timeouts);
- `span_context`: the current span read with one context-variable lookup (the API's private runtime context);
- `log_records`: log records queued straight to the batch processors (their private queue);
- `fastapi_routes`: the FastAPI instrumentation's per-request route search, remembered (its private helper);
- `ended_span`: the span scrubber's changes to an ended span, in place (its private fields; the plain path hands
  the export processors a copy built with the public constructor), and the shortcuts reading an ended span's and a
  log record's attributes (``BoundedAttributes._dict``, ``_immutable``) and empty event and link lists;
- `structlog_context`: structlog's bound context read from structlog's private registry (``_CONTEXT_VARS``);
- `sdk`: the few internals every path needs, having no public form (exporter loading by name, the configurator's
  base class, a provider's resource after fork, the globals' set-once guards for the pytest plugin, the FastAPI
  instrumentation's "already instrumented" marker); each is used defensively and does nothing when absent;
- `fastapi_native`: FastAPI's own telemetry (0.165+) switched off per app in its private config (every path: it
  would double the distro's spans), and the whole route template of a lazily included router read from FastAPI's
  routing context in ``scope["fastapi"]`` (every path: without it routes lose their ``include_router`` prefix);
- `uvicorn_server`: uvicorn's ``Config.configure_logging`` and ``Server.shutdown`` replaced, to re-adopt its loggers
  and to flush at shutdown (every path; outside uvicorn's range the same steps run at the app's lifespan).

The OpenTelemetry parts but `sdk` are used only while `active()`: ``OTEL_DISTRO_FAST_PATH`` is on (the default) and
every package it reaches into is at a release it is known to work with (`SUPPORTED`, the same range as the upper
bounds in pyproject.toml; the CI matrix runs the distro's tests on the oldest and newest of it and once with the
fast path off). Otherwise the distro takes the plain SDK path everywhere — same telemetry, upstream's speed — and
says so once (``fast_path_disabled``, with the reason). structlog and uvicorn, which the app picks, are checked each
on its own (`LIBRARIES`, `library_status`): outside its range only that part falls back, and
``fast_path_disabled`` names it (``part``); `library_active` adds the switch, for the parts that are about speed.

What stays outside the room, checked by ``tests/otel_distro/_internal/test_fastpath_boundary.py``: the distro's own
private names (on ``self``/``cls``, on its modules, and a listed few members of its classes used across objects: a
private name on any other object is taken for another package's, even where the distro has a name alike); the logs
API's modules (``opentelemetry._logs``, ``opentelemetry.sdk._logs``: the only names it is published under);
google-re2's ``_re2`` (the scrubbing engine's matcher; the engine must import without the distro's `_internal`, as
the collector loads it); and two replaced methods with public names, ``FastAPI.build_middleware_stack``
(Starlette's hook for the app's stack, where the distro adds its middleware) and SQLAlchemy's
``Dialect.engine_created`` hook (to learn of engines).
"""

from __future__ import annotations

import functools
import logging
import re
from dataclasses import dataclass, field
from importlib import metadata

from otel_distro._internal import state

__all__ = ["LIBRARIES", "SUPPORTED", "Status", "active", "library_active", "library_status", "report", "status"]

#: Releases the fast path is known to work with, by distribution: (oldest, newest), both included, compared on as
#: many numbers as each gives (``(1, 45)`` is any 1.45.x). Widen the newest only after the CI matrix passed on it
#: (and raise pyproject.toml's bounds with it). Narrow: the internals it uses changed in every release from 1.39 to
#: 1.45 (the OTLP/HTTP exporters' client, the tracer's metrics, the providers' resource update at fork), and the
#: SDK limits a metric's series to 2000 from 1.45.2 on, which the pre-aggregated request histogram does as well.
#: Older releases pyproject.toml allows (1.45.0, 1.45.1) take the plain path.
SUPPORTED: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {
    "opentelemetry-api": ((1, 45), (1, 45)),
    "opentelemetry-sdk": ((1, 45, 2), (1, 45)),
    "opentelemetry-exporter-otlp-proto-http": ((1, 45), (1, 45)),
    "opentelemetry-exporter-prometheus": ((0, 66), (0, 66)),
    "opentelemetry-instrumentation-fastapi": ((0, 66), (0, 66)),
}

#: Other libraries whose internals a part of the room uses, each checked on its own: outside its range only that part
#: takes the public path (a new uvicorn does not cost the OpenTelemetry fast path). Same form as `SUPPORTED`; widen the
#: newest once the tests passed on it. The oldest are the floors pyproject.toml allows (uvicorn: its dev extra).
LIBRARIES: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {
    "structlog": ((24, 1), (26,)),
    "uvicorn": ((0, 29), (0, 55)),
}

_logger = logging.getLogger("otel_distro")
_RELEASE = re.compile(r"(\d+)\.(\d+)(?:\.(\d+))?")


@dataclass(frozen=True, slots=True)
class Status:
    """Whether the fast path is on, and if not why (for the one ``fast_path_disabled`` line)."""

    active: bool
    reason: str = ""
    details: dict[str, str] = field(default_factory=dict)


def _release(version: str) -> tuple[int, int, int] | None:
    """``major.minor.patch`` of a version string (``0.66b2`` is 0.66.0; pre-releases count as their release)."""
    match = _RELEASE.match(version)
    return (int(match[1]), int(match[2]), int(match[3] or 0)) if match else None


def _known(release: tuple[int, int, int], oldest: tuple[int, ...], newest: tuple[int, ...]) -> bool:
    return oldest <= release[: len(oldest)] and release[: len(newest)] <= newest


def _shown(bound: tuple[int, ...]) -> str:
    return ".".join(map(str, bound))


def _check_versions(ranges: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] | None = None) -> Status:
    """Whether every installed distribution of ``ranges`` (`SUPPORTED` when not given) is in its range."""
    for distribution, (oldest, newest) in (SUPPORTED if ranges is None else ranges).items():
        try:
            version = metadata.version(distribution)
        except metadata.PackageNotFoundError:
            continue  # not installed: nothing of it is used (the parts that need it check for it themselves)
        release = _release(version)
        if release is None or not _known(release, oldest, newest):
            return Status(
                False,
                "unsupported_version",
                {
                    "package": distribution,
                    "version": version,
                    "supported": f"{_shown(oldest)} to {_shown(newest)}",
                },
            )
    return Status(True)


def _switched_on() -> Status:
    try:
        switched_on = state.settings().fast_path
    except Exception:  # invalid settings stop start-up elsewhere, with the variable named; stay plain meanwhile
        return Status(False, "invalid_settings")
    if not switched_on:
        return Status(False, "switched_off", {"setting": "OTEL_DISTRO_FAST_PATH=false"})
    return Status(True)


@functools.cache
def status() -> Status:
    """The decision for this process, taken once (the setting, then the installed versions)."""
    switch = _switched_on()
    return switch if not switch.active else _check_versions()


def active() -> bool:
    """Whether the distro may use OpenTelemetry internals (see the module docstring)."""
    return status().active


@functools.cache
def library_status(distribution: str) -> Status:
    """Whether the installed release of one of `LIBRARIES` is in its range (absent counts as in range)."""
    return _check_versions({distribution: LIBRARIES[distribution]})


def library_active(distribution: str) -> bool:
    """Whether a fast-path part may use ``distribution``'s internals: the switch is on and its release is known.
    (Parts every path needs, such as `uvicorn_server`'s, ask `library_status` alone: the switch is about speed.)"""
    return status().reason not in _SWITCHED_OFF and library_status(distribution).active


_SWITCHED_OFF = frozenset({"switched_off", "invalid_settings"})


_reported = False


def report() -> None:
    """Log ``fast_path_disabled`` once per process when the fast path, or a library's part of it, is off (called once
    logging is installed): one line for the OpenTelemetry parts, one per library outside its range."""
    global _reported  # noqa: PLW0603
    if _reported:
        return
    _reported = True
    current = status()
    if not current.active:
        level = logging.INFO if current.reason == "switched_off" else logging.WARNING
        _logger.log(level, "fast_path_disabled", extra={"reason": current.reason, **current.details})
    for distribution in LIBRARIES:
        part = library_status(distribution)
        if not part.active:
            _logger.warning("fast_path_disabled", extra={"reason": part.reason, "part": distribution, **part.details})
