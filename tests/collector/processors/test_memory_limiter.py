"""``memory_limiter``: refuses while the collector holds more data than the soft limit, accepts again the moment
it is let go (no measuring interval, no RSS), and lends its limits to the receivers while it runs."""

from __future__ import annotations

import asyncio
from pathlib import Path

import psutil
import pytest
from pydantic import ValidationError

from collector.component import ComponentID, CreateSettings
from collector.errors import Refused
from collector.memory import Ledger
from collector.processors.memory_limiter import MIB, Config, MemoryLimiter, total_memory
from collector.testing import RecordingTelemetry
from tests.collector.sending.fakes import traces


def limiter(ledger: Ledger, **cfg: object) -> MemoryLimiter:
    return MemoryLimiter(CreateSettings(ComponentID("memory_limiter")), Config.model_validate(cfg), ledger=ledger)


def test_refuses_above_the_soft_limit_and_accepts_again_as_soon_as_data_is_released() -> None:
    ledger = Ledger()
    lim = limiter(ledger, limit_mib=200, spike_limit_mib=50, check_interval="1m")  # soft: 150 MiB
    b = traces(1)
    held = ledger.hold("processor/batch", 150 * MIB)
    assert lim(b) is b  # at the soft limit, not above
    extra = ledger.hold("receiver", 1)
    with pytest.raises(Refused) as info:
        lim(b)
    assert info.value.retry_after == 1.0
    assert "soft limit" in info.value.reason
    assert lim.refusing
    ledger.release("receiver", extra)
    assert lim(b) is b  # no check_interval to wait for
    assert not lim.refusing
    ledger.release("processor/batch", held)


def test_the_data_held_is_published_once_per_check_interval() -> None:
    ledger, tel, clock = Ledger(), RecordingTelemetry(), [0.0]
    lim = MemoryLimiter(CreateSettings(ComponentID("memory_limiter"), telemetry=tel),
                        Config(limit_mib=10, check_interval=1.0), ledger=ledger, clock=lambda: clock[0])
    held = ledger.hold("receiver", 1234)
    lim(traces(1))
    assert tel.value("otelcol_memory_limiter_held_bytes", processor="memory_limiter") == 1234
    ledger.hold("receiver", 1)
    lim(traces(1))
    assert tel.value("otelcol_memory_limiter_held_bytes") == 1234  # not before check_interval
    clock[0] = 1.0
    lim(traces(1))
    assert tel.value("otelcol_memory_limiter_held_bytes") == 1235
    ledger.release("receiver", held + 1)


def test_a_process_whose_rss_is_high_but_holds_nothing_accepts() -> None:
    ledger = Ledger()
    lim = limiter(ledger, limit_mib=1)  # far below any Python process's RSS
    assert psutil.Process().memory_info().rss > MIB
    b = traces(3)
    assert lim(b) is b


def test_receivers_see_the_limits_while_it_runs() -> None:
    ledger = Ledger()
    lim = limiter(ledger, limit_mib=100, spike_limit_mib=20)
    assert ledger.refusal(200 * MIB) is None
    asyncio.run(lim.start())
    assert ledger.refusal(100 * MIB) is None
    assert ledger.refusal(100 * MIB + 1) is not None  # would go past the hard limit
    asyncio.run(lim.shutdown())
    assert ledger.refusal(200 * MIB) is None


def test_percentages_are_of_the_memory_given() -> None:
    lim = MemoryLimiter(CreateSettings(ComponentID("memory_limiter")),
                        Config(limit_percentage=50, spike_limit_percentage=10), ledger=Ledger(), total=1000)
    assert (lim.hard, lim.soft) == (500, 400)


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
