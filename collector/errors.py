"""The exceptions that cross component boundaries.

Processors drop and refuse by raising; exporters report the outcome of an export by raising one of the
`ExportError` kinds. Each exporter's `classify()` maps its backend's answers to these; the sender
(`collector.sending`) is the one place that acts on them (count and drop, or back off and retry).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collector.pdata import Batch

__all__ = [
    "DropBatch",
    "ExportError",
    "PermanentError",
    "Refused",
    "RetryableError",
]


class DropBatch(Exception):
    """Raised by a processor to drop the whole batch on purpose (counted as dropped, not failed)."""


class Refused(Exception):
    """Back-pressure: the pipeline cannot take the data now. Receivers answer 429/503 (gRPC
    RESOURCE_EXHAUSTED/UNAVAILABLE) with Retry-After; nothing is accepted, so nothing is lost."""

    def __init__(self, reason: str, retry_after: float = 1.0) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class ExportError(Exception):
    """Base of every classified export failure."""


class PermanentError(ExportError):
    """The backend will never accept this data as sent (4xx other than 408/429, mapping errors).
    The sender counts the items as failed, logs once, and drops them (or dead-letters them)."""

    def __init__(self, message: str, *, rejected_items: int | None = None) -> None:
        super().__init__(message)
        self.rejected_items = rejected_items


class RetryableError(ExportError):
    """Try again later. `retry_after` (seconds) is the backend's own hint (Retry-After, RetryInfo,
    X-Sentry-Rate-Limits) and takes precedence over the backoff schedule. `batch`, when set, is the part
    of the data still to be sent (partial success: the rest was accepted, or permanently rejected — then
    `rejected_items` says how many items of the rest, which the sender counts as failed)."""

    def __init__(self, message: str, *, retry_after: float | None = None, batch: Batch | None = None,
                 rejected_items: int = 0) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.batch = batch
        self.rejected_items = rejected_items
