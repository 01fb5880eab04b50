"""System information for ``/health/detailed``: CPU, memory, and the disk use of the data volume.

Read by the health monitor once per run (psutil; a few system calls), never on a request.
"""

from __future__ import annotations

import os
from typing import Any

import psutil

__all__ = ["system_info"]

_process: psutil.Process | None = None


def system_info(disk_path: str) -> dict[str, Any]:
    """``cpu_percent`` (system-wide, since the previous call), memory and this process's RSS, and the disk
    that holds ``disk_path`` (``error`` instead when it cannot be read)."""
    global _process  # noqa: PLW0603
    if _process is None or _process.pid != os.getpid():
        _process = psutil.Process()
    memory = psutil.virtual_memory()
    info: dict[str, Any] = {
        "cpu_percent": psutil.cpu_percent(interval=None),
        "cpu_count": psutil.cpu_count(),
        "load_average": [round(load, 2) for load in os.getloadavg()],
        "memory": {"total_bytes": memory.total, "available_bytes": memory.available, "percent": memory.percent},
        "process": {"pid": _process.pid, "rss_bytes": _process.memory_info().rss},
    }
    path = os.path.abspath(disk_path)
    try:
        disk = psutil.disk_usage(path)
        info["disk"] = {
            "path": path,
            "total_bytes": disk.total,
            "used_bytes": disk.used,
            "free_bytes": disk.free,
            "percent": disk.percent,
        }
    except OSError as exc:
        info["disk"] = {"path": path, "error": f"{type(exc).__name__}: {exc.strerror or exc}"}
    return info
