"""One check decides whether the distro uses OpenTelemetry internals: the setting, then the installed releases.

Outside it every part takes the plain SDK path, and the process says so once.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from importlib import metadata
from typing import Any

import pytest
from fastapi import FastAPI
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk import trace as sdk_trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import SpanKind
from starlette.testclient import TestClient

from otel_distro._internal import fastpath, state
from otel_distro._internal.fastpath import exporters, log_records, request_duration, server_span, span_context
from otel_distro.settings import Settings
from otel_distro.testing import OtelCapture


@pytest.fixture
def decide_again(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The decision is taken once per process: forget it before and after the test."""
    fastpath.status.cache_clear()
    fastpath.library_status.cache_clear()
    monkeypatch.setattr(fastpath, "_reported", False)
    previous = state.settings() if state.is_loaded() else None
    yield
    state.set_settings(previous)
    fastpath.status.cache_clear()
    fastpath.library_status.cache_clear()


#: A release of each distribution the fast path knows (whatever this environment has installed).
KNOWN = {
    name: ".".join(map(str, (*oldest, 0, 0)[:3]))
    for name, (oldest, _) in {**fastpath.SUPPORTED, **fastpath.LIBRARIES}.items()
}


def _installed(versions: dict[str, str]) -> Any:
    """``metadata.version`` answering known releases, but ``versions`` where given."""
    real = metadata.version

    def version(distribution: str) -> str:
        return versions.get(distribution) or KNOWN.get(distribution) or real(distribution)

    return version


def test_on_by_default_on_known_releases(decide_again: None, monkeypatch: pytest.MonkeyPatch) -> None:
    state.set_settings(Settings())
    monkeypatch.setattr(metadata, "version", _installed({}))
    assert fastpath.status() == fastpath.Status(True)


def test_the_setting_switches_it_off(decide_again: None, caplog: pytest.LogCaptureFixture) -> None:
    state.set_settings(Settings(fast_path=False))
    caplog.set_level(logging.INFO, logger="otel_distro")

    assert not fastpath.active()
    fastpath.report()
    fastpath.report()

    [record] = [r for r in caplog.records if r.getMessage() == "fast_path_disabled"]
    assert record.levelno == logging.INFO
    assert (record.reason, record.setting) == ("switched_off", "OTEL_DISTRO_FAST_PATH=false")  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("distribution", "version"),
    [
        ("opentelemetry-sdk", "1.99.0"),
        ("opentelemetry-sdk", "1.37.0"),
        ("opentelemetry-sdk", "1.45.1"),  # before the SDK's series limit, which the pre-aggregated histogram applies
        ("opentelemetry-api", "2.0.0"),
        ("opentelemetry-instrumentation-fastapi", "0.70b0"),
        ("opentelemetry-exporter-prometheus", "0.58b0"),
        ("opentelemetry-exporter-otlp-proto-http", "not-a-version"),
    ],
)
def test_a_release_outside_the_known_range_falls_back_and_says_so_once(
    decide_again: None, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, distribution: str,
    version: str,
) -> None:
    state.set_settings(Settings())
    monkeypatch.setattr(metadata, "version", _installed({distribution: version}))
    caplog.set_level(logging.INFO, logger="otel_distro")

    assert not fastpath.active()
    fastpath.report()
    fastpath.report()

    [record] = [r for r in caplog.records if r.getMessage() == "fast_path_disabled"]
    assert record.levelno == logging.WARNING
    assert record.reason == "unsupported_version"  # type: ignore[attr-defined]
    assert (record.package, record.version) == (distribution, version)  # type: ignore[attr-defined]
    oldest, newest = fastpath.SUPPORTED[distribution]
    shown = f"{'.'.join(map(str, oldest))} to {'.'.join(map(str, newest))}"
    assert record.supported == shown  # type: ignore[attr-defined]


@pytest.mark.parametrize(("distribution", "version"), [("structlog", "27.1.0"), ("uvicorn", "0.99.0"),
                                                      ("uvicorn", "0.28.0")])
def test_a_library_outside_its_range_turns_off_only_its_part_and_says_so_once(
    decide_again: None, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, distribution: str,
    version: str,
) -> None:
    state.set_settings(Settings())
    monkeypatch.setattr(metadata, "version", _installed({distribution: version}))
    caplog.set_level(logging.INFO, logger="otel_distro")

    assert fastpath.active()  # the OpenTelemetry parts keep the fast path
    assert not fastpath.library_active(distribution)
    assert [d for d in fastpath.LIBRARIES if fastpath.library_active(d)] == [
        d for d in fastpath.LIBRARIES if d != distribution
    ]
    fastpath.report()
    fastpath.report()

    [record] = [r for r in caplog.records if r.getMessage() == "fast_path_disabled"]
    assert record.levelno == logging.WARNING
    assert (record.reason, record.part, record.package, record.version) == (  # type: ignore[attr-defined]
        "unsupported_version", distribution, distribution, version,
    )


def test_the_switch_turns_the_library_parts_off_too_in_one_line(
    decide_again: None, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    state.set_settings(Settings(fast_path=False))
    monkeypatch.setattr(metadata, "version", _installed({}))
    caplog.set_level(logging.INFO, logger="otel_distro")

    assert not any(fastpath.library_active(d) for d in fastpath.LIBRARIES)
    assert all(fastpath.library_status(d).active for d in fastpath.LIBRARIES)  # their releases are known
    fastpath.report()

    [record] = [r for r in caplog.records if r.getMessage() == "fast_path_disabled"]
    assert record.reason == "switched_off"  # type: ignore[attr-defined]


def test_the_oldest_and_newest_known_releases_are_in_range(decide_again: None, monkeypatch: pytest.MonkeyPatch) -> None:
    state.set_settings(Settings())
    for edge in (0, 1):
        fastpath.status.cache_clear()
        pad = (0, 0) if edge == 0 else (99, 99)  # the oldest release of the oldest series, the last of the newest
        ranges = {**fastpath.SUPPORTED, **fastpath.LIBRARIES}
        versions = {name: ".".join(map(str, (*bounds[edge], *pad)[:3])) for name, bounds in ranges.items()}
        monkeypatch.setattr(metadata, "version", _installed(versions))
        fastpath.library_status.cache_clear()
        assert fastpath.active(), versions
        assert all(fastpath.library_active(name) for name in fastpath.LIBRARIES), versions


def test_the_known_range_is_what_pyproject_allows() -> None:
    """The dependencies' bounds and the fast path's known series move together: pip installs no release newer than
    the fast path was checked on (older ones it allows, down to the floor, take the plain path)."""
    import tomllib  # noqa: PLC0415

    from packaging.requirements import Requirement  # noqa: PLC0415

    from tests.support import ROOT  # noqa: PLC0415

    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    requirements = {requirement.name: requirement.specifier for requirement in map(Requirement, dependencies)}
    for distribution, (oldest, newest) in fastpath.SUPPORTED.items():
        allowed = requirements[distribution]
        suffix = "b0" if oldest[0] == 0 else ".0"
        assert allowed.contains(".".join(map(str, oldest)) + suffix * (len(oldest) == 2), prereleases=True), (
            distribution, allowed,
        )
        assert allowed.contains(f"{newest[0]}.{newest[1]}.9", prereleases=True), (distribution, allowed)
        assert not allowed.contains(f"{newest[0]}.{newest[1] + 1}{suffix}", prereleases=True), (distribution, allowed)
        assert not allowed.contains(f"{oldest[0]}.{oldest[1] - 1}.9", prereleases=True), (distribution, allowed)
    unbounded = [
        name for name, spec in requirements.items() if name.startswith("opentelemetry") and "<" not in str(spec)
    ]
    assert unbounded == []


@pytest.fixture
def plain(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The fast path off for this test, as on an unknown release (and the per-tracer lookups forgotten)."""
    monkeypatch.setattr(fastpath, "status", lambda: fastpath.Status(False, "unsupported_version"))
    server_span._parts.clear()
    yield
    server_span._parts.clear()


def test_off_every_part_takes_the_plain_sdk_path(plain: None) -> None:
    tracer = TracerProvider().get_tracer("t")
    span = server_span.start_server_span(tracer, "GET", None, {"http.request.method": "GET"})
    assert isinstance(span, sdk_trace.Span) and not isinstance(span, server_span.ServerSpan)
    assert span.kind is SpanKind.SERVER
    span.end()

    assert exporters.fast_exporter_class(OTLPSpanExporter) is OTLPSpanExporter
    assert exporters.fast_exporter_class(OTLPLogExporter) is OTLPLogExporter
    exporter = OTLPSpanExporter(endpoint="http://127.0.0.1:9/v1/traces")
    assert exporters.bound_at_exit(exporter) is exporter
    assert not getattr(getattr(getattr(exporter, "_client", None), "export", None), "__otel_distro__", False)

    metric_exporter = OTLPMetricExporter(endpoint="http://127.0.0.1:9/v1/metrics")
    reader = request_duration.periodic_reader(metric_exporter)
    assert type(reader) is PeriodicExportingMetricReader
    provider = MeterProvider(metric_readers=[reader])
    try:
        assert not request_duration.can_share(metric_exporter)
        assert request_duration.pre_aggregate(provider, [reader]) is None
        assert isinstance(request_duration.duration_recorder(provider), request_duration._SdkRecorder)
    finally:
        provider.shutdown()

    assert span_context.reader() is span_context.plain
    assert log_records.direct_queues([object()], exporters_read_plain_fields=True, nothing_between=True) == []


def test_off_a_request_gives_the_same_telemetry(plain: None, otel: OtelCapture) -> None:
    app = FastAPI()

    @app.get("/hello/{name}")
    async def hello(name: str) -> dict[str, str]:
        return {"hello": name}

    otel.instrument(app)
    response = TestClient(app).get("/hello/ada?x=1", headers={"X-Request-ID": "plain-1"})

    assert response.headers["x-request-id"] == "plain-1"
    span = otel.span("GET /hello/{name}")
    assert not isinstance(span, server_span.ServerSpan)
    assert span.kind is SpanKind.SERVER
    assert {
        k: v for k, v in (span.attributes or {}).items() if k not in {"server.port", "user_agent.original"}
    } == {
        "http.request.method": "GET",
        "url.scheme": "http",
        "url.path": "/hello/ada",
        "url.query": "x=1",
        "request_id": "plain-1",
        "network.protocol.version": "1.1",
        "server.address": "testserver",
        "http.route": "/hello/{name}",
        "http.response.status_code": 200,
    }
    otel.assert_correlated(span, "request_finished")
    assert otel.metric_total("http.server.request.duration", {"http.route": "/hello/{name}"}) == 1
    assert otel.metric_total("http.server.request.count", {"http.route": "/hello/{name}"}) == 1


def test_the_libraries_known_ranges_start_at_what_pyproject_allows() -> None:
    """structlog and uvicorn have no upper bound (the app picks them): releases past the known range take the public
    path; the oldest known is pyproject.toml's floor, so every release it allows below the newest is covered."""
    import tomllib  # noqa: PLC0415

    from packaging.requirements import Requirement  # noqa: PLC0415

    from tests.support import ROOT  # noqa: PLC0415

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    listed = [*project["dependencies"], *(d for extra in project["optional-dependencies"].values() for d in extra)]
    requirements = {requirement.name: requirement.specifier for requirement in map(Requirement, listed)}
    for distribution, (oldest, _) in fastpath.LIBRARIES.items():
        allowed = requirements[distribution]
        floor = ".".join(map(str, oldest))
        assert allowed.contains(floor), (distribution, allowed)
        assert not allowed.contains(f"{oldest[0]}.{oldest[1] - 1}"), (distribution, allowed)
