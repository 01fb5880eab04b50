"""The resource: service, deployment, host, process; standard variables win; container ids when present."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from otel_distro._internal.resource import build_resource, container_id, process_resource
from otel_distro.settings import Settings


def test_defaults_and_detected_attributes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_SERVICE_NAME", "checkout")
    monkeypatch.delenv("OTEL_RESOURCE_ATTRIBUTES", raising=False)
    attributes = build_resource(Settings(environment="staging", service_version="1.2.3")).attributes

    assert attributes["service.name"] == "checkout"
    assert attributes["service.version"] == "1.2.3"
    assert attributes["deployment.environment.name"] == "staging"
    assert attributes["process.pid"] == os.getpid()
    assert attributes["host.name"]


def test_standard_variables_win(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment.name=prod,service.version=9")
    attributes = build_resource(Settings(environment="staging", service_version="1.2.3")).attributes
    assert attributes["deployment.environment.name"] == "prod"
    assert attributes["service.version"] == "9"


def test_the_process_resource_names_this_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "getpid", lambda: 424242)
    merged = build_resource(Settings()).merge(process_resource())
    assert merged.attributes["process.pid"] == 424242


def test_container_id_from_cgroup_v1(tmp_path: Path) -> None:
    cid = "a" * 64
    cgroup = tmp_path / "cgroup"
    cgroup.write_text(f"12:pids:/docker/{cid}\n")
    assert container_id(cgroup, tmp_path / "absent") == cid


def test_container_id_from_mountinfo_under_cgroup_v2(tmp_path: Path) -> None:
    cid = "b" * 64
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text(f"1 2 0:3 /docker/containers/{cid}/hostname /etc/hostname rw - ext4 /dev/x rw\n")
    cgroup = tmp_path / "cgroup"
    cgroup.write_text("0::/\n")
    assert container_id(cgroup, mountinfo) == cid


def test_no_container(tmp_path: Path) -> None:
    (tmp_path / "cgroup").write_text("0::/\n")
    assert container_id(tmp_path / "cgroup", tmp_path / "absent") is None
