"""Filesystem usage and process memory utilization, read when a reader collects, named by the semantic
conventions, and installed by the distro beside the system-metrics instrumentation."""

from __future__ import annotations

import os
import shutil
from typing import Any, NamedTuple

import psutil
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from otel_distro._internal import host_metrics, state
from otel_distro.distro import OtelDistro
from otel_distro.settings import Settings


class _Part(NamedTuple):
    device: str
    mountpoint: str
    fstype: str


def _collect(provider: MeterProvider, reader: InMemoryMetricReader) -> dict[str, list[Any]]:
    data = reader.get_metrics_data()
    assert data is not None
    return {m.name: list(m.data.data_points) for rm in data.resource_metrics for sm in rm.scope_metrics
            for m in sm.metrics}


@pytest.fixture
def collected() -> dict[str, list[Any]]:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    host_metrics.install(provider)
    try:
        return _collect(provider, reader)
    finally:
        provider.shutdown()


def test_filesystem_usage_per_mountpoint_matches_statvfs(collected: dict[str, list[Any]]) -> None:
    usage = collected["system.filesystem.usage"]
    mounts = {p.attributes["system.filesystem.mountpoint"] for p in usage}
    assert mounts, "at least one physical filesystem"
    mount = next(iter(sorted(mounts)))
    states = {p.attributes["system.filesystem.state"]: p.value for p in usage
              if p.attributes["system.filesystem.mountpoint"] == mount}
    assert set(states) == {"used", "free", "reserved"}
    total = shutil.disk_usage(mount).total
    # used + free + reserved is the whole filesystem (the files written meanwhile move bytes between states)
    assert sum(states.values()) == total


def test_filesystem_utilization_is_the_used_share_of_the_space_users_can_have(
        collected: dict[str, list[Any]]) -> None:
    util = {p.attributes["system.filesystem.mountpoint"]: p.value for p in collected["system.filesystem.utilization"]}
    usage = collected["system.filesystem.usage"]
    for mount, value in util.items():
        states = {p.attributes["system.filesystem.state"]: p.value for p in usage
                  if p.attributes["system.filesystem.mountpoint"] == mount}
        assert 0.0 <= value <= 1.0
        assert value == pytest.approx(states["used"] / (states["used"] + states["free"]), abs=0.01)
        assert "system.filesystem.state" not in next(
            p.attributes for p in collected["system.filesystem.utilization"]
            if p.attributes["system.filesystem.mountpoint"] == mount)


def test_the_attributes_are_the_semantic_conventions_names(collected: dict[str, list[Any]]) -> None:
    # the device is the general system.device (there is no system.filesystem.device)
    for point in collected["system.filesystem.usage"]:
        assert set(point.attributes) == {"system.device", "system.filesystem.mountpoint", "system.filesystem.type",
                                         "system.filesystem.state"}
    for point in collected["system.filesystem.utilization"]:
        assert set(point.attributes) == {"system.device", "system.filesystem.mountpoint", "system.filesystem.type"}


def test_a_device_mounted_twice_is_counted_once(monkeypatch: pytest.MonkeyPatch) -> None:
    root = os.path.abspath(os.sep)
    fake = [_Part("/dev/x", root, "ext4"), _Part("/dev/x", root, "ext4")]
    monkeypatch.setattr(psutil, "disk_partitions", lambda all=False: fake)
    assert [fs.mountpoint for fs in host_metrics.filesystem_usage()] == [root]


def test_a_filesystem_that_cannot_be_read_is_left_out(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(psutil, "disk_partitions", lambda all=False: [_Part("/dev/y", "/no/such/mount", "ext4")])
    assert host_metrics.filesystem_usage() == []


def test_process_memory_utilization_is_rss_over_total(collected: dict[str, list[Any]]) -> None:
    [point] = collected["process.memory.utilization"]
    expected = psutil.Process().memory_info().rss / psutil.virtual_memory().total
    assert 0.0 < point.value < 1.0
    assert point.value == pytest.approx(expected, rel=0.5)


def test_the_distro_installs_them_with_the_system_metrics() -> None:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])

    class Entry:
        name = "system_metrics"

        def load(self) -> Any:
            class Instrumentor:
                def __init__(self, **kwargs: Any) -> None:
                    return None

                def instrument(self, **kwargs: Any) -> None:
                    return None

            return Instrumentor

    previous = state.settings() if state.is_loaded() else None
    state.set_settings(Settings())
    try:
        OtelDistro().load_instrumentor(Entry(), meter_provider=provider)
        names = set(_collect(provider, reader))
    finally:
        state.set_settings(previous)
        provider.shutdown()
    assert {"system.filesystem.usage", "system.filesystem.utilization", "process.memory.utilization"} <= names
