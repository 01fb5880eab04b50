"""`collector.memory`: a count of the bytes held, by component, that returns to zero whatever happens."""

from __future__ import annotations

import contextlib
import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from collector.memory import Ledger, Limits


def test_hold_and_release_by_component() -> None:
    ledger = Ledger()
    a = ledger.hold("receiver", 100)
    ledger.hold("processor/batch", 50)
    assert ledger.held() == 150
    assert ledger.by_component() == {"receiver": 100, "processor/batch": 50}
    ledger.release("receiver", a)
    assert ledger.held() == 50
    assert ledger.by_component() == {"processor/batch": 50}


def test_holding_releases_on_every_exit() -> None:
    ledger = Ledger()
    with pytest.raises(RuntimeError), ledger.holding("receiver", 10) as held:
        held.add(20)
        assert ledger.held() == 30
        raise RuntimeError("boom")
    assert ledger.held() == 0
    assert ledger.by_component() == {}


def test_refusal_follows_the_lowest_registered_limits() -> None:
    ledger = Ledger()
    assert ledger.refusal(10**12) is None  # no limiter: never refuses
    first, second = object(), object()
    ledger.limit(first, Limits(hard=1000, soft=800))
    ledger.limit(second, Limits(hard=2000, soft=1600))
    assert ledger.refusal(1000) is None
    assert "hard limit" in (ledger.refusal(1001) or "")  # would take it past the hard limit
    ledger.hold("receiver", 801)
    assert "soft limit" in (ledger.refusal() or "")
    ledger.release("receiver", 801)
    assert ledger.refusal() is None  # accepts again the moment the data is let go
    ledger.limit(first, None)
    assert ledger.refusal(1500) is None
    ledger.limit(second, None)
    assert ledger.refusal(10**12) is None


def test_threads_holding_at_once_leave_nothing_behind() -> None:
    ledger = Ledger()

    def work() -> None:
        for i in range(2000):
            with ledger.holding(f"c{i % 3}", i):
                pass

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert ledger.held() == 0
    assert ledger.by_component() == {}


@given(st.lists(st.tuples(st.sampled_from(["receiver", "batch", "queue"]), st.integers(0, 10**6),
                          st.booleans()), max_size=40))
def test_any_sequence_of_holds_nested_and_failing_returns_to_zero(steps: list[tuple[str, int, bool]]) -> None:
    ledger = Ledger()

    def nest(rest: list[tuple[str, int, bool]]) -> None:
        if not rest:
            return
        component, nbytes, fail = rest[0]
        with ledger.holding(component, nbytes) as held:
            held.add(nbytes // 2)
            assert ledger.held() >= nbytes + nbytes // 2
            if fail:
                raise ValueError(component)
            nest(rest[1:])

    with contextlib.suppress(ValueError):
        nest(steps)
    assert ledger.held() == 0
    assert ledger.by_component() == {}


