"""The distro entry point: standard defaults, and how instrumentors are loaded."""

from __future__ import annotations

import os
from typing import Any

import pytest

from otel_distro._internal import state
from otel_distro.distro import BATCH_DEFAULTS, STANDARD_DEFAULTS, SYSTEM_METRICS, OtelDistro
from otel_distro.settings import Settings


class FakeEntryPoint:
    def __init__(self, name: str) -> None:
        self.name = name
        self.instrumented: list[dict[str, Any]] = []
        self.constructed: list[dict[str, Any]] = []

    def load(self) -> Any:
        entry = self

        class Instrumentor:
            def __init__(self, **kwargs: Any) -> None:
                entry.constructed.append(kwargs)

            def instrument(self, **kwargs: Any) -> None:
                entry.instrumented.append(kwargs)

        return Instrumentor


@pytest.fixture(autouse=True)
def settings() -> Any:
    previous = state.settings() if state.is_loaded() else None
    state.set_settings(Settings())
    yield
    state.set_settings(previous)


def test_standard_defaults_only_fill_what_is_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in STANDARD_DEFAULTS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "console")
    OtelDistro().configure()

    assert os.environ["OTEL_TRACES_EXPORTER"] == "console"
    assert os.environ["OTEL_EXPORTER_OTLP_PROTOCOL"] == "http/protobuf"
    assert os.environ["OTEL_LOGS_EXPORTER"] == "otlp"


def test_larger_export_batches_only_where_the_user_set_neither_queue_nor_batch_size(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for prefix in BATCH_DEFAULTS:
        for suffix in ("_MAX_QUEUE_SIZE", "_MAX_EXPORT_BATCH_SIZE"):
            monkeypatch.setenv(prefix + suffix, "")  # recorded, so the test leaves the environment as it was
            monkeypatch.delenv(prefix + suffix)
    monkeypatch.setenv("OTEL_BLRP_MAX_QUEUE_SIZE", "1000")
    OtelDistro().configure()

    assert os.environ["OTEL_BSP_MAX_QUEUE_SIZE"] == "8192"
    assert os.environ["OTEL_BSP_MAX_EXPORT_BATCH_SIZE"] == "2048"
    assert os.environ["OTEL_BLRP_MAX_QUEUE_SIZE"] == "1000"
    assert "OTEL_BLRP_MAX_EXPORT_BATCH_SIZE" not in os.environ  # the SDK's 512 fits the user's queue


def test_the_logging_instrumentation_is_replaced_by_the_distros_own_bridge() -> None:
    entry = FakeEntryPoint("logging")
    OtelDistro().load_instrumentor(entry)
    assert entry.instrumented == []


def test_the_distros_request_middleware_replaces_the_http_server_instrumentations_by_default() -> None:
    for name in ("fastapi", "asgi"):
        entry = FakeEntryPoint(name)
        OtelDistro().load_instrumentor(entry, skip_dep_check=True)
        assert entry.instrumented == [] and entry.constructed == []


def test_fastapi_is_instrumented_without_send_receive_spans_and_with_quiet_paths_untraced(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    state.set_settings(Settings(http_instrumentation="upstream"))
    monkeypatch.delenv("OTEL_PYTHON_FASTAPI_EXCLUDED_URLS", raising=False)
    monkeypatch.delenv("OTEL_PYTHON_EXCLUDED_URLS", raising=False)
    entry = FakeEntryPoint("fastapi")
    OtelDistro().load_instrumentor(entry, skip_dep_check=True)
    [kwargs] = entry.instrumented
    assert kwargs["exclude_spans"] == ["receive", "send"]
    assert "health" in kwargs["excluded_urls"]
    assert kwargs["skip_dep_check"] is True


def test_send_receive_spans_can_be_kept() -> None:
    state.set_settings(Settings(asgi_send_receive_spans=True))
    entry = FakeEntryPoint("fastapi")
    OtelDistro().load_instrumentor(entry)
    assert "exclude_spans" not in entry.instrumented[0]


def test_system_metrics_use_the_distros_selection_or_are_off() -> None:
    entry = FakeEntryPoint("system_metrics")
    OtelDistro().load_instrumentor(entry)
    assert entry.constructed == [{"config": SYSTEM_METRICS}]

    state.set_settings(Settings(system_metrics=False))
    off = FakeEntryPoint("system_metrics")
    OtelDistro().load_instrumentor(off)
    assert off.instrumented == []


def test_other_instrumentors_load_as_usual() -> None:
    entry = FakeEntryPoint("sqlalchemy")
    OtelDistro().load_instrumentor(entry)
    assert entry.instrumented == [{}]
