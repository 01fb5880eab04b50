"""``memory_limiter``: refuses data (back-pressure, never a crash) while the process uses too much memory.

Memory is measured at most every ``check_interval`` (RSS, by psutil); percentages are of the container's
memory limit (cgroup v1 or v2) when there is one, else of the machine's. Above the soft limit (``limit -
spike_limit``) every batch is refused with `collector.errors.Refused`: receivers answer 503 + Retry-After (gRPC
UNAVAILABLE + RetryInfo) and clients retry later. Above the hard limit a garbage collection is forced too.
Put it first in every pipeline.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from pathlib import Path
from typing import Self

import psutil
from pydantic import BaseModel, ConfigDict, Field, model_validator

from collector.component import CreateSettings
from collector.config_types import Duration
from collector.errors import Refused
from collector.pdata import Batch, Signal

__all__ = ["SIGNALS", "TYPE", "Config", "MemoryLimiter", "create", "total_memory"]

TYPE = "memory_limiter"
SIGNALS = frozenset(Signal)
MIB = 1024 * 1024


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid")

    check_interval: Duration = Field(default=1.0, gt=0)
    limit_mib: int = Field(default=0, ge=0, description="hard limit in MiB (0: use limit_percentage)")
    spike_limit_mib: int = Field(default=0, ge=0, description="headroom below the hard limit (0: 20% of it)")
    limit_percentage: int = Field(default=80, ge=0, le=100, description="of total memory, when limit_mib is 0")
    spike_limit_percentage: int = Field(default=0, ge=0, le=100)

    @model_validator(mode="after")
    def _limits(self) -> Self:
        if not self.limit_mib and not self.limit_percentage:
            raise ValueError("one of limit_mib or limit_percentage must be > 0")
        if self.limit_mib and self.spike_limit_mib >= self.limit_mib:
            raise ValueError(
                f"spike_limit_mib ({self.spike_limit_mib}) must be lower than limit_mib ({self.limit_mib})"
            )
        if not self.limit_mib and self.spike_limit_percentage >= self.limit_percentage:
            raise ValueError(
                f"spike_limit_percentage ({self.spike_limit_percentage}) must be lower than limit_percentage "
                f"({self.limit_percentage})"
            )
        return self

    def limits_bytes(self, total_memory: int) -> tuple[int, int]:
        """(hard, soft) limits in bytes."""
        if self.limit_mib:
            hard = self.limit_mib * MIB
            spike = self.spike_limit_mib * MIB if self.spike_limit_mib else hard // 5
        else:
            hard = total_memory * self.limit_percentage // 100
            spike = (total_memory * self.spike_limit_percentage // 100) if self.spike_limit_percentage else hard // 5
        return hard, hard - spike


def _rss() -> int:
    return int(psutil.Process().memory_info().rss)


_CGROUP_LIMITS = ("fs/cgroup/memory.max", "fs/cgroup/memory/memory.limit_in_bytes")  # cgroup v2, v1


def total_memory(sys_root: Path = Path("/sys")) -> int:
    """The memory this process may use: the machine's, or its container's (cgroup) limit when lower — as
    otelcol does, so that ``limit_percentage`` means a share of the container, not of the host."""
    total = int(psutil.virtual_memory().total)
    for relative in _CGROUP_LIMITS:
        try:
            text = (sys_root / relative).read_text().strip()
        except OSError:
            continue
        if text.isdigit() and 0 < int(text) < total:  # "max" (v2) or a huge number (v1): no limit
            return int(text)
    return total


class MemoryLimiter:
    def __init__(self, settings: CreateSettings, config: Config, *, usage: Callable[[], int] = _rss,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._interval = config.check_interval
        self.hard, self.soft = config.limits_bytes(total_memory())
        self._usage = usage
        self._clock = clock
        self._log = settings.logger
        self._next_check = 0.0
        self.refusing = False

    def _check(self) -> None:
        try:
            used = self._usage()
            if used >= self.hard:
                gc.collect()
                used = self._usage()
        except Exception as exc:  # cannot measure: keep the last decision, never fail the pipeline
            self._log.warning("memory_limiter_measure_failed", error=str(exc))
            return
        refusing = used >= self.soft
        if refusing != self.refusing:
            event = "memory_limiter_refusing" if refusing else "memory_limiter_accepting"
            self._log.warning(event, used_mib=used // MIB, soft_limit_mib=self.soft // MIB,
                              hard_limit_mib=self.hard // MIB)
        self.refusing = refusing

    def __call__(self, batch: Batch) -> Batch:
        now = self._clock()
        if now >= self._next_check:
            self._next_check = now + self._interval
            self._check()
        if self.refusing:
            raise Refused("memory usage is above the soft limit", retry_after=max(1.0, self._interval))
        return batch


def create(settings: CreateSettings, config: Config) -> MemoryLimiter:
    return MemoryLimiter(settings, config)
