"""What is retried and what is dead-lettered, as tables (Vector's `classify`, per response and per item)."""

from __future__ import annotations

from typing import Any

import pytest
from elastic_transport import ConnectionError, ConnectionTimeout, SerializationError, TlsError

from collector.exporters.elasticsearch._classify import (
    DontRetry,
    ItemOutcome,
    Items,
    Retry,
    classify_exception,
    classify_item,
    classify_response,
)


@pytest.mark.parametrize(
    ("status", "error_type", "outcome"),
    [
        (201, None, ItemOutcome.OK),
        (200, None, ItemOutcome.OK),
        (409, "version_conflict_engine_exception", ItemOutcome.OK),  # an earlier attempt stored it
        (429, "es_rejected_execution_exception", ItemOutcome.TOO_MANY),
        (429, "circuit_breaking_exception", ItemOutcome.TOO_MANY),
        (500, "exception", ItemOutcome.SERVER),
        (503, "unavailable_shards_exception", ItemOutcome.SERVER),
        (408, "timeout_exception", ItemOutcome.SERVER),
        (400, "document_parsing_exception", ItemOutcome.REJECTED),
        (400, "mapper_parsing_exception", ItemOutcome.REJECTED),
        (400, "illegal_argument_exception", ItemOutcome.REJECTED),
        (404, "index_not_found_exception", ItemOutcome.REJECTED),
        (409, "something_else", ItemOutcome.REJECTED),
        (403, "security_exception", ItemOutcome.REJECTED),
        (501, "not_implemented", ItemOutcome.REJECTED),
    ],
)
def test_classify_item(status: int, error_type: str | None, outcome: ItemOutcome) -> None:
    error = {"type": error_type, "reason": "..."} if error_type else None
    assert classify_item(status, error) is outcome


def test_only_429_and_server_errors_are_retried() -> None:
    assert {o for o in ItemOutcome if o.retry} == {ItemOutcome.TOO_MANY, ItemOutcome.SERVER}


BULK_OK = {"errors": False, "items": [{"create": {"status": 201}}]}


@pytest.mark.parametrize(
    ("status", "headers", "body", "expected"),
    [
        (200, {}, BULK_OK, Items([{"create": {"status": 201}}])),
        (429, {"Retry-After": "3"}, {"error": {"type": "circuit_breaking_exception", "reason": "too big"}},
         Retry("HTTP 429: circuit_breaking_exception: too big", 3.0, ItemOutcome.TOO_MANY)),
        (503, {}, {"error": "no master"}, Retry("HTTP 503: no master", None, ItemOutcome.SERVER)),
        (502, {"retry-after": "junk"}, "", Retry("HTTP 502: ", None, ItemOutcome.SERVER)),
        (401, {}, {"error": {"type": "security_exception", "reason": "missing authentication credentials"}},
         DontRetry("HTTP 401: security_exception: missing authentication credentials (check api_key or "
                   "user/password and the role's privileges on the index)", 401)),
        (413, {}, "", DontRetry("HTTP 413:  (lower flush::bytes below the cluster's http.max_content_length)", 413)),
        (400, {}, {"error": {"type": "illegal_argument_exception", "reason": "bad"}},
         DontRetry("HTTP 400: illegal_argument_exception: bad", 400)),
        (200, {}, {"took": 1}, DontRetry("unexpected _bulk answer without 'items': {'took': 1}", 200)),
    ],
)
def test_classify_response(status: int, headers: dict[str, str], body: Any, expected: object) -> None:
    assert classify_response(status, headers, body) == expected


@pytest.mark.parametrize(
    ("exc", "retried"),
    [
        (ConnectionError("refused"), True),
        (ConnectionTimeout("timed out"), True),
        (TlsError("certificate verify failed"), True),
        (OSError("reset"), True),
        (SerializationError("cannot encode"), False),
    ],
)
def test_classify_exception(exc: Exception, retried: bool) -> None:
    verdict = classify_exception(exc)
    assert isinstance(verdict, Retry if retried else DontRetry)
