import pytest

from collector.sending.backoff import Backoff
from collector.sending.settings import RetrySettings


def test_intervals_grow_by_the_multiplier_up_to_the_cap_without_jitter() -> None:
    b = Backoff(RetrySettings(initial_interval=1, multiplier=2, max_interval=5, randomization_factor=0))
    assert [b.next() for _ in range(5)] == [1, 2, 4, 5, 5]


@pytest.mark.parametrize(("rand", "expected"), [(0.0, 0.5), (0.5, 1.0), (1.0, 1.5)])
def test_jitter_spreads_each_interval_by_the_randomization_factor(rand: float, expected: float) -> None:
    b = Backoff(RetrySettings(initial_interval=1, randomization_factor=0.5), rand=lambda: rand)
    assert b.next() == pytest.approx(expected)
