"""The check every ``classify()`` table test makes of one outcome."""

from __future__ import annotations

from collector.errors import ExportError, RetryableError

__all__ = ["assert_outcome"]


def assert_outcome(outcome: ExportError | None, kind: type[Exception] | None, retry_after: float | None) -> None:
    """``outcome`` is None when ``kind`` is (success), else exactly a ``kind``; a retryable one carries
    ``retry_after``."""
    if kind is None:
        assert outcome is None
        return
    assert type(outcome) is kind
    if isinstance(outcome, RetryableError):
        assert outcome.retry_after == retry_after
