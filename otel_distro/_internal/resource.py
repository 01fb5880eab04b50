"""The resource every signal carries: service, deployment, host, process, and container/k8s when cheap.

``OTEL_SERVICE_NAME`` and ``OTEL_RESOURCE_ATTRIBUTES`` win over everything detected here.
"""

from __future__ import annotations

import contextlib
import os
import platform
import re
import socket
import sys
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

from opentelemetry.sdk.resources import OTELResourceDetector, Resource

from otel_distro.settings import Settings

__all__ = ["build_resource", "container_id", "process_resource"]

_CONTAINER_ID = re.compile(r"([0-9a-f]{64})")
_K8S_NAMESPACE_FILE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


def container_id(
    cgroup: Path = Path("/proc/self/cgroup"), mountinfo: Path = Path("/proc/self/mountinfo")
) -> str | None:
    """The 64-hex container id from cgroup v1 lines or, under cgroup v2, from the mount table; else None."""
    for path in (cgroup, mountinfo):
        try:
            text = path.read_text()
        except OSError:
            continue
        for line in text.splitlines():
            if path is mountinfo and "/containers/" not in line and "/docker/" not in line:
                continue
            match = _CONTAINER_ID.search(line)
            if match:
                return match.group(1)
    return None


def _process_attributes() -> dict[str, Any]:
    return {
        "process.pid": os.getpid(),
        "process.parent_pid": os.getppid(),
        "process.executable.name": os.path.basename(sys.executable),
        "process.runtime.name": sys.implementation.name,
        "process.runtime.version": platform.python_version(),
    }


def _detected(environ: Mapping[str, str]) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "host.name": socket.gethostname(),
        "host.arch": platform.machine(),
        "os.type": sys.platform,
        **_process_attributes(),
    }
    cid = container_id()
    if cid:
        attributes["container.id"] = cid
    if environ.get("KUBERNETES_SERVICE_HOST"):
        attributes["k8s.pod.name"] = environ.get("HOSTNAME", socket.gethostname())
        with contextlib.suppress(OSError):
            attributes["k8s.namespace.name"] = _K8S_NAMESPACE_FILE.read_text().strip()
    return attributes


def _default_version(service_name: str) -> str:
    try:
        return metadata.version(service_name)
    except (metadata.PackageNotFoundError, ValueError):
        return "unknown"


def build_resource(settings: Settings, environ: Mapping[str, str] | None = None) -> Resource:
    """Detected attributes and the distro's defaults, under whatever the standard variables set."""
    env = os.environ if environ is None else environ
    from_env = dict(OTELResourceDetector().detect().attributes)
    attributes = _detected(env)
    attributes["deployment.environment.name"] = settings.environment
    base = Resource.create({})  # SDK defaults + OTEL_* variables, including service.name's fallback
    service_name = str(from_env.get("service.name") or base.attributes.get("service.name"))
    attributes["service.version"] = settings.service_version or _default_version(service_name)
    return Resource(attributes).merge(base).merge(Resource(from_env))


def process_resource() -> Resource:
    """This process's pid attributes, for the providers to merge in after a fork.

    (The SDK itself renews ``service.instance.id`` in a forked child; the pid is left to distributions.)
    """
    return Resource(_process_attributes())
