"""Host metrics the system-metrics instrumentation does not collect, named by the OTel system semantic conventions.

* ``system.filesystem.usage`` (By, attrs ``system.filesystem.mountpoint``, ``system.device``,
  ``system.filesystem.type``, ``system.filesystem.state`` = used / free / reserved) and
  ``system.filesystem.utilization`` (1, same attributes without ``state``: the share of the space users can
  have that is used, as ``df`` shows it) for every real mounted filesystem (psutil's physical partitions);
* ``process.memory.utilization`` (1): this process's resident memory over the machine's total.

``system.memory.utilization`` comes from the system-metrics instrumentation (``state`` = used / free /
cached); the alert rules use its ``used`` state. Everything is read when a reader collects, so nothing runs
between scrapes or exports.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

import psutil
from opentelemetry.metrics import CallbackOptions, MeterProvider, Observation

__all__ = ["FilesystemUsage", "filesystem_usage", "install"]

MOUNTPOINT = "system.filesystem.mountpoint"
DEVICE = "system.device"
FS_TYPE = "system.filesystem.type"
STATE = "system.filesystem.state"


@dataclass(frozen=True, slots=True)
class FilesystemUsage:
    mountpoint: str
    device: str
    type: str
    used: int
    free: int  # available to unprivileged users
    reserved: int  # free for root only

    @property
    def utilization(self) -> float:
        usable = self.used + self.free
        return self.used / usable if usable else 0.0


def filesystem_usage() -> list[FilesystemUsage]:
    """Every physical filesystem once (the first mountpoint of a device wins: bind mounts repeat it)."""
    out: list[FilesystemUsage] = []
    seen: set[str] = set()
    for part in psutil.disk_partitions(all=False):
        if part.device in seen:
            continue
        try:
            st = os.statvfs(part.mountpoint)
        except OSError:
            continue  # unmounted meanwhile, or not readable by this user
        seen.add(part.device)
        total = st.f_blocks * st.f_frsize
        free_root = st.f_bfree * st.f_frsize
        free = st.f_bavail * st.f_frsize
        out.append(FilesystemUsage(part.mountpoint, part.device, part.fstype, total - free_root, free,
                                   free_root - free))
    return out


def _usage(options: CallbackOptions) -> Iterable[Observation]:
    for fs in filesystem_usage():
        base = {MOUNTPOINT: fs.mountpoint, DEVICE: fs.device, FS_TYPE: fs.type}
        yield Observation(fs.used, {**base, STATE: "used"})
        yield Observation(fs.free, {**base, STATE: "free"})
        yield Observation(fs.reserved, {**base, STATE: "reserved"})


def _utilization(options: CallbackOptions) -> Iterable[Observation]:
    for fs in filesystem_usage():
        yield Observation(fs.utilization, {MOUNTPOINT: fs.mountpoint, DEVICE: fs.device, FS_TYPE: fs.type})


class _ProcessMemory:
    def __init__(self) -> None:
        self._pid = -1
        self._proc: psutil.Process | None = None

    def __call__(self, options: CallbackOptions) -> Iterable[Observation]:
        proc = self._proc
        if proc is None or self._pid != os.getpid():  # after fork, measure the child
            proc = self._proc = psutil.Process()
            self._pid = os.getpid()
        total = psutil.virtual_memory().total
        yield Observation(proc.memory_info().rss / total if total else 0.0)


def install(meter_provider: MeterProvider) -> None:
    """Register the observable instruments on ``meter_provider``."""
    meter = meter_provider.get_meter("otel_distro.host")
    meter.create_observable_up_down_counter(
        "system.filesystem.usage", [_usage], unit="By", description="Filesystem bytes used, free and reserved.")
    meter.create_observable_gauge(
        "system.filesystem.utilization", [_utilization], unit="1",
        description="Share of the filesystem space available to users that is used.")
    meter.create_observable_gauge(
        "process.memory.utilization", [_ProcessMemory()], unit="1",
        description="Resident memory of the process over the host's total memory.")
