"""``memory_limiter``: refuses above the soft limit, accepts again below it, measures once per interval."""

from __future__ import annotations

from pathlib import Path

import psutil
import pytest
from pydantic import ValidationError

from collector.component import ComponentID, CreateSettings
from collector.errors import Refused
from collector.processors.memory_limiter import MIB, Config, MemoryLimiter, total_memory
from tests.collector.sending.fakes import traces


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def limiter(usage: list[int], clock: Clock, **cfg: object) -> MemoryLimiter:
    return MemoryLimiter(CreateSettings(ComponentID("memory_limiter")), Config.model_validate(cfg),
                         usage=lambda: usage[0], clock=clock)


def test_refuses_above_the_soft_limit_and_recovers_below_it() -> None:
    usage, clock = [100 * MIB], Clock()
    lim = limiter(usage, clock, limit_mib=200, spike_limit_mib=50, check_interval="1s")  # soft: 150 MiB
    b = traces(1)
    assert lim(b) is b
    usage[0] = 160 * MIB
    assert lim(b) is b  # not measured again before check_interval
    clock.now = 1.0
    with pytest.raises(Refused) as info:
        lim(b)
    assert info.value.retry_after >= 1
    usage[0] = 120 * MIB
    clock.now = 2.0
    assert lim(b) is b


def test_spike_defaults_to_a_fifth_of_the_limit() -> None:
    assert Config(limit_mib=100).limits_bytes(0) == (100 * MIB, 80 * MIB)
    assert Config(limit_percentage=50, spike_limit_percentage=10).limits_bytes(1000) == (500, 400)


@pytest.mark.parametrize(("cfg", "message"), [
    ({"limit_mib": 100, "spike_limit_mib": 100}, "spike_limit_mib"),
    ({"limit_mib": 0, "limit_percentage": 0}, "limit_mib or limit_percentage"),
    ({"check_interval": "0s"}, "check_interval"),
])
def test_invalid_limits_are_rejected(cfg: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Config.model_validate(cfg)


@pytest.mark.parametrize(("relative", "content"), [
    ("fs/cgroup/memory.max", "268435456\n"),  # cgroup v2
    ("fs/cgroup/memory/memory.limit_in_bytes", "268435456\n"),  # cgroup v1
])
def test_percentages_are_of_the_containers_limit(tmp_path: Path, relative: str, content: str) -> None:
    limit = tmp_path / relative
    limit.parent.mkdir(parents=True)
    limit.write_text(content)
    assert total_memory(tmp_path) == 256 * MIB


@pytest.mark.parametrize("content", ["max\n", "9223372036854771712\n", "garbage"])
def test_without_a_container_limit_the_machines_memory_counts(tmp_path: Path, content: str) -> None:
    (tmp_path / "fs" / "cgroup").mkdir(parents=True)
    (tmp_path / "fs" / "cgroup" / "memory.max").write_text(content)
    assert total_memory(tmp_path) == psutil.virtual_memory().total
    assert total_memory(tmp_path / "missing") == psutil.virtual_memory().total
