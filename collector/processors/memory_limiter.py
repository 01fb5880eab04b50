"""``memory_limiter``: refuses data (back-pressure, never a crash) while the collector holds too much of it.

What counts is the OTLP data the collector holds (`collector.memory`): requests being received, ``batch``'s
pending batches, in-memory sending queues and the batches their consumers are sending — not the process's RSS,
which CPython does not give back to the system once an overload is over. Above the soft limit (``limit -
spike_limit``) every batch is refused with `collector.errors.Refused`: receivers answer 503 + Retry-After
(gRPC UNAVAILABLE + RetryInfo) and clients retry later. The decision is taken on every batch from the current
count, so the collector accepts again the moment the data is sent on. While a limiter runs, the receivers
also refuse a request before reading its body when the data held is over the soft limit, or when the request
would take it past the hard limit.

The limits count bytes of serialized OTLP data. The process needs more than that (decoded messages while a
batch is processed, the interpreter itself: count two to three times the limit), so size ``limit_mib`` to
about a third of the memory the collector may use; percentages are of the container's memory limit (cgroup
v1 or v2) when there is one, else of the machine's. The count is per process: with ``--workers N`` each worker
holds up to the limit. Every ``check_interval`` (while data flows) the count is published as the gauge
``otelcol_memory_limiter_held_bytes``, and it paces the log lines while refusing. Put it first in every pipeline.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Self

import psutil
from pydantic import BaseModel, ConfigDict, Field, model_validator

from collector.component import CreateSettings
from collector.config_types import Duration
from collector.errors import Refused
from collector.memory import LEDGER, Ledger, Limits
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
    thread_safe = True  # reads the ledger (locked); its flags only pace log lines
    def __init__(self, settings: CreateSettings, config: Config, *, ledger: Ledger = LEDGER,
                 total: int | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self._interval = config.check_interval
        self.hard, self.soft = config.limits_bytes(total_memory() if total is None else total)
        self._ledger = ledger
        self._clock = clock
        self._log = settings.logger
        self._telemetry = settings.telemetry
        self._attrs = {"processor": str(settings.id)}
        self._next_log = 0.0
        self._next_gauge = 0.0
        self.refusing = False

    async def start(self) -> None:
        """The receivers refuse early, before reading a body, under these limits too."""
        self._ledger.limit(self, Limits(self.hard, self.soft))

    async def shutdown(self) -> None:
        self._ledger.limit(self, None)

    def __call__(self, batch: Batch) -> Batch:
        held = self._ledger.held()  # this batch included: its receiver holds it
        now = self._clock()
        if now >= self._next_gauge:
            self._next_gauge = now + self._interval
            self._telemetry.set("otelcol_memory_limiter_held_bytes", held, self._attrs,
                                description="Bytes of data the collector held, as the memory limiter last saw them")
        if held > self.soft:
            if not self.refusing or now >= self._next_log:
                self._next_log = now + self._interval
                self._log.warning("memory_limiter_refusing", held_bytes=held, soft_limit_bytes=self.soft,
                                  hard_limit_bytes=self.hard)
            self.refusing = True
            raise Refused(f"the collector holds {held} bytes of data, above the memory limiter's soft limit "
                          f"({self.soft} bytes)", retry_after=1.0)
        if self.refusing:
            self.refusing = False
            self._log.warning("memory_limiter_accepting", held_bytes=held, soft_limit_bytes=self.soft)
        return batch


def create(settings: CreateSettings, config: Config) -> MemoryLimiter:
    return MemoryLimiter(settings, config)
