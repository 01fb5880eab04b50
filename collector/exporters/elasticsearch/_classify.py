"""What to do with Elasticsearch's answers: one plain function per level, table-tested.

* `classify_response` — the HTTP answer to a ``_bulk`` request as a whole;
* `classify_item` — one entry of ``items`` in a 200 answer (Elasticsearch reports per document);
* `classify_exception` — transport failures that never produced an answer.

Retry: 429 (``es_rejected_execution_exception``, circuit breakers), 408, 5xx except 501, and every transport
failure. Reject (dead-letter, never retried): the other 4xx — mapping and parsing errors above all.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from elastic_transport import SerializationError

from collector.sending.retry_after import retry_after_header

__all__ = [
    "DontRetry",
    "ItemOutcome",
    "Items",
    "Retry",
    "Verdict",
    "classify_exception",
    "classify_item",
    "classify_response",
]


class ItemOutcome(StrEnum):
    OK = "success"
    TOO_MANY = "too_many"  # 429: retry later
    SERVER = "failed_server"  # 5xx, 408: retry
    REJECTED = "failed_client"  # other 4xx: dead-letter

    @property
    def retry(self) -> bool:
        return self in (ItemOutcome.TOO_MANY, ItemOutcome.SERVER)


@dataclass(frozen=True, slots=True)
class Retry:
    reason: str
    retry_after: float | None = None
    outcome: ItemOutcome = ItemOutcome.SERVER


@dataclass(frozen=True, slots=True)
class DontRetry:
    reason: str
    status: int


@dataclass(frozen=True, slots=True)
class Items:
    """A 2xx answer: look at each entry of ``items``."""

    items: list[Mapping[str, Any]]


Verdict = Retry | DontRetry | Items


def _retry_status(status: int) -> ItemOutcome | None:
    if status == 429:
        return ItemOutcome.TOO_MANY
    if status == 408 or (status >= 500 and status != 501):
        return ItemOutcome.SERVER
    return None


def classify_item(status: int, error: Mapping[str, Any] | None = None) -> ItemOutcome:
    """One bulk item: its ``status`` and ``error`` object. A ``create`` that meets an existing ``_id``
    (409 version conflict) means an earlier attempt already stored the document: success."""
    if 200 <= status < 300:
        return ItemOutcome.OK
    if status == 409 and error is not None and error.get("type") == "version_conflict_engine_exception":
        return ItemOutcome.OK
    return _retry_status(status) or ItemOutcome.REJECTED


def _error_text(body: Any) -> str:
    if isinstance(body, Mapping):
        error = body.get("error")
        if isinstance(error, Mapping):
            return f"{error.get('type', 'error')}: {error.get('reason', '')}".rstrip(": ")
        if error is not None:
            return str(error)
    return str(body)[:200]


def classify_response(status: int, headers: Mapping[str, str], body: Any) -> Verdict:
    retry_after = retry_after_header(headers)
    if 200 <= status < 300:
        if not isinstance(body, Mapping) or not isinstance(body.get("items"), list):
            return DontRetry(f"unexpected _bulk answer without 'items': {str(body)[:200]}", status)
        return Items(body["items"])
    outcome = _retry_status(status)
    if outcome is not None:
        return Retry(f"HTTP {status}: {_error_text(body)}", retry_after, outcome)
    hint = ""
    if status == 413:
        hint = " (lower flush::bytes below the cluster's http.max_content_length)"
    elif status in (401, 403):
        hint = " (check api_key or user/password and the role's privileges on the index)"
    return DontRetry(f"HTTP {status}: {_error_text(body)}{hint}", status)


def classify_exception(exc: BaseException) -> Retry | DontRetry:
    """A failure before any answer: connection refused or reset, timeout, TLS — all retried, since the
    data is fine; only a body the client cannot serialize is permanent."""
    if isinstance(exc, SerializationError):
        return DontRetry(f"cannot serialize the request: {exc}", 0)
    causes = getattr(exc, "errors", ())  # elastic_transport keeps the underlying error here
    detail = f" ({causes[0]})" if causes else ""
    return Retry(f"{type(exc).__name__}: {exc}{detail}")
