"""Per-client token buckets: a minute's worth in a burst, refilled steadily, Retry-After in whole seconds."""

from __future__ import annotations

from otel_distro._internal.ratelimit import RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_client_gets_its_minute_in_a_burst_then_waits_for_the_refill() -> None:
    clock = Clock()
    limiter = RateLimiter(120, clock=clock)  # 2 a second
    assert limiter.take("a", 100) == 0
    assert limiter.take("a", 20) == 0
    assert limiter.take("a", 10) == 5  # 10 more need 5 s of refill
    clock.now = 5.0
    assert limiter.take("a", 10) == 0


def test_clients_have_their_own_buckets_and_old_ones_are_forgotten() -> None:
    clock = Clock()
    limiter = RateLimiter(100, max_clients=2, clock=clock)
    assert limiter.take("a", 100) == 0
    assert limiter.take("b", 100) == 0
    assert limiter.take("a", 1) >= 1
    assert limiter.take("c", 100) == 0  # a third client: the least recently seen ("b") is forgotten
    assert limiter.take("b", 100) == 0


def test_zero_means_no_limit() -> None:
    assert RateLimiter(0).take("a", 10**9) == 0
