"""The bulk indexer: buffers the documents of concurrent exports, flushes them as ``_bulk`` requests when
``flush::bytes`` are buffered or ``flush::interval`` has passed, and hands every export the per-document
results of its own documents. Nothing here retries: results are classified and returned."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ._classify import DontRetry, ItemOutcome, Items, Retry, classify_exception, classify_item, classify_response
from ._encoder import Doc
from ._request import BulkRequest, build_requests

__all__ = ["BulkIndexer", "ItemResult", "Response", "Send"]

Response = tuple[int, Mapping[str, str], Any]
"""HTTP status, headers and decoded body of a ``_bulk`` answer."""

Send = Callable[[bytes], Awaitable[Response]]
"""Posts one NDJSON body to ``_bulk``; raises on transport failures (no answer)."""

OnRequest = Callable[[BulkRequest, str], None]


@dataclass(frozen=True, slots=True)
class ItemResult:
    doc: Doc
    outcome: ItemOutcome
    status: int
    error: Mapping[str, Any] | None = None
    retry_after: float | None = None


@dataclass(eq=False, slots=True)
class _Waiter:
    docs: Sequence[Doc]
    size: int
    future: asyncio.Future[list[ItemResult]] = field(repr=False)


def _request_size(docs: Sequence[Doc]) -> int:
    return sum(len(d.source) + len(d.index) + 32 for d in docs)


async def send_request(send: Send, request: BulkRequest) -> list[ItemResult]:
    """One ``_bulk`` round trip, classified into a result per document. A request the cluster finds too large
    (413: over its ``http.max_content_length``) is split in halves and sent again, down to single documents."""
    try:
        status, headers, body = await send(bytes(request.body))
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # every transport failure is classified, none escapes
        verdict: Retry | DontRetry | Items = classify_exception(exc)
    else:
        verdict = classify_response(status, headers, body)
    docs = request.docs
    if isinstance(verdict, Items):
        if len(verdict.items) != len(docs):
            verdict = Retry(f"_bulk answered {len(verdict.items)} items for {len(docs)} documents")
        else:
            return [_item_result(doc, item) for doc, item in zip(docs, verdict.items, strict=True)]
    if isinstance(verdict, Retry):
        error = {"type": "retryable_request_error", "reason": verdict.reason}
        return [ItemResult(d, verdict.outcome, 0, error, verdict.retry_after) for d in docs]
    if verdict.status == 413 and len(docs) > 1:
        half = len(docs) // 2
        results: list[ItemResult] = []
        for part in (docs[:half], docs[half:]):
            for smaller in build_requests(part, max_bytes=len(request.body)):
                results.extend(await send_request(send, smaller))
        return results
    error = {"type": "rejected_request", "reason": verdict.reason}
    return [ItemResult(d, ItemOutcome.REJECTED, verdict.status, error) for d in docs]


def _item_result(doc: Doc, item: Mapping[str, Any]) -> ItemResult:
    # each item is {"create": {"_index": ..., "status": 201, "error": {...}}}
    result = next(iter(item.values()), None) if item else None
    if not isinstance(result, Mapping):
        return ItemResult(doc, ItemOutcome.SERVER, 0, {"type": "malformed_item", "reason": str(item)[:200]})
    status = result.get("status")
    status = status if isinstance(status, int) else 0
    error = result.get("error")
    if isinstance(error, str):
        error = {"type": "error", "reason": error}
    error = error if isinstance(error, Mapping) else None
    outcome = classify_item(status, error) if status else ItemOutcome.SERVER
    return ItemResult(doc, outcome, status, error)


class BulkIndexer:
    def __init__(self, send: Send, *, flush_bytes: int, flush_interval: float,
                 on_request: OnRequest | None = None) -> None:
        self._send = send
        self._flush_bytes = flush_bytes
        self._flush_interval = flush_interval
        self._on_request = on_request
        self._pending: list[_Waiter] = []
        self._pending_bytes = 0
        self._timer: asyncio.TimerHandle | None = None
        self._flushes: set[asyncio.Task[None]] = set()
        self._closed = False

    async def index(self, docs: Sequence[Doc]) -> list[ItemResult]:
        """Results for ``docs``, in order, once the request(s) carrying them have been answered."""
        if self._closed:
            raise RuntimeError("the bulk indexer is closed")
        if not docs:
            return []
        loop = asyncio.get_running_loop()
        waiter = _Waiter(docs, _request_size(docs), loop.create_future())
        self._pending.append(waiter)
        self._pending_bytes += waiter.size
        if self._flush_interval <= 0 or self._pending_bytes >= self._flush_bytes:
            self._flush()
        elif self._timer is None:
            self._timer = loop.call_later(self._flush_interval, self._flush)
        try:
            return await waiter.future
        except asyncio.CancelledError:
            # Not sent yet: take the documents back out so that they are not sent for nobody.
            if any(w is waiter for w in self._pending):
                self._pending = [w for w in self._pending if w is not waiter]
                self._pending_bytes -= waiter.size
            raise

    def _flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        taken, self._pending, self._pending_bytes = self._pending, [], 0
        if taken:
            task = asyncio.get_running_loop().create_task(self._run(taken))
            self._flushes.add(task)
            task.add_done_callback(self._flushes.discard)

    async def _run(self, waiters: list[_Waiter]) -> None:
        try:
            docs = [d for w in waiters for d in w.docs]
            results: list[ItemResult] = []
            for request in build_requests(docs, self._flush_bytes):
                answered = await send_request(self._send, request)
                if self._on_request is not None:
                    self._on_request(request, _request_outcome(answered))
                results.extend(answered)
        except BaseException as exc:
            for w in waiters:
                if not w.future.done():
                    if isinstance(exc, asyncio.CancelledError):
                        w.future.cancel()
                    else:
                        w.future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        start = 0
        for w in waiters:
            end = start + len(w.docs)
            if not w.future.done():
                w.future.set_result(results[start:end])
            start = end

    async def close(self) -> None:
        """Flush what is buffered and wait for every request in flight."""
        self._closed = True
        self._flush()
        if self._flushes:
            await asyncio.gather(*self._flushes, return_exceptions=True)


def _request_outcome(results: Sequence[ItemResult]) -> str:
    ok = sum(1 for r in results if r.outcome is ItemOutcome.OK)
    if ok == len(results):
        return "success"
    return "partial" if ok else "failed"
