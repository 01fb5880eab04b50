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
- `sdk`: the few internals every path needs, having no public form (exporter loading by name, the configurator's
  base class, a provider's resource after fork, the globals' set-once guards for the pytest plugin); each is
  used defensively and does nothing when absent.

All but `sdk` are used only while `active()`: ``OTEL_DISTRO_FAST_PATH`` is on (the default) and every package it
reaches into is at a release it is known to work with (`SUPPORTED`, the same range as the upper bounds in
pyproject.toml; the CI matrix runs the distro's tests on the oldest and newest of it and once with the fast path
off). Otherwise the distro takes the plain SDK path everywhere — same telemetry, upstream's speed — and says so
once (``fast_path_disabled``, with the reason).
"""

from __future__ import annotations

import functools
import logging
import re
from dataclasses import dataclass, field
from importlib import metadata

from otel_distro._internal import state

__all__ = ["SUPPORTED", "Status", "active", "report", "status"]

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


def _check_versions() -> Status:
    for distribution, (oldest, newest) in SUPPORTED.items():
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


@functools.cache
def status() -> Status:
    """The decision for this process, taken once (the setting, then the installed versions)."""
    try:
        switched_on = state.settings().fast_path
    except Exception:  # invalid settings stop start-up elsewhere, with the variable named; stay plain meanwhile
        return Status(False, "invalid_settings")
    if not switched_on:
        return Status(False, "switched_off", {"setting": "OTEL_DISTRO_FAST_PATH=false"})
    return _check_versions()


def active() -> bool:
    """Whether the distro may use OpenTelemetry internals (see the module docstring)."""
    return status().active


_reported = False


def report() -> None:
    """Log ``fast_path_disabled`` once per process when the fast path is off (called once logging is installed)."""
    global _reported  # noqa: PLW0603
    current = status()
    if current.active or _reported:
        return
    _reported = True
    level = logging.INFO if current.reason == "switched_off" else logging.WARNING
    _logger.log(level, "fast_path_disabled", extra={"reason": current.reason, **current.details})
