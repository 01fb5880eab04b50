"""The bulk indexer: flush by bytes and by interval, per-document results back to each export."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from elastic_transport import ConnectionError

from collector.exporters.elasticsearch._bulk import BulkIndexer, ItemResult, Response
from collector.exporters.elasticsearch._classify import ItemOutcome
from collector.exporters.elasticsearch._encoder import Doc

HOUR = 3600.0


def _docs(tag: str, n: int) -> list[Doc]:
    return [Doc("logs-a-b", json.dumps({"tag": tag, "i": i}).encode(), (0, 0, i)) for i in range(n)]


class FakeBulk:
    """Answers ``_bulk`` like Elasticsearch: 201 per item unless the document's tag says otherwise."""

    def __init__(self, statuses: dict[str, int] | None = None, fail: Exception | None = None) -> None:
        self.statuses = statuses or {}
        self.fail = fail
        self.requests: list[list[dict[str, Any]]] = []

    async def __call__(self, body: bytes) -> Response:
        if self.fail is not None:
            raise self.fail
        sources = [json.loads(line) for line in body.decode().splitlines()[1::2]]
        self.requests.append(sources)
        items = []
        for src in sources:
            status = self.statuses.get(src["tag"], 201)
            item: dict[str, Any] = {"_index": ".ds-logs-a-b", "status": status}
            if status >= 300:
                item["error"] = {"type": "es_rejected_execution_exception" if status == 429 else
                                 "document_parsing_exception", "reason": "..."}
            items.append({"create": item})
        return 200, {}, {"errors": any(s >= 300 for s in self.statuses.values()), "items": items}


def _tags(results: list[ItemResult]) -> list[str]:
    return [json.loads(r.doc.source)["tag"] for r in results]


def test_without_an_interval_every_export_is_sent_at_once() -> None:
    bulk = FakeBulk()

    async def main() -> None:
        indexer = BulkIndexer(bulk, flush_bytes=1_000_000, flush_interval=0)
        await indexer.index(_docs("a", 2))
        await indexer.index(_docs("b", 1))
        await indexer.close()

    asyncio.run(main())
    assert [[s["tag"] for s in r] for r in bulk.requests] == [["a", "a"], ["b"]]


def test_exports_within_one_interval_share_a_request_and_each_gets_its_own_results() -> None:
    bulk = FakeBulk({"b": 429})

    async def main() -> list[list[ItemResult]]:
        indexer = BulkIndexer(bulk, flush_bytes=1_000_000, flush_interval=0.05)
        results = await asyncio.gather(indexer.index(_docs("a", 2)), indexer.index(_docs("b", 1)),
                                       indexer.index(_docs("c", 3)))
        await indexer.close()
        return list(results)

    a, b, c = asyncio.run(main())
    assert len(bulk.requests) == 1
    assert (_tags(a), _tags(b), _tags(c)) == (["a", "a"], ["b"], ["c", "c", "c"])
    assert [r.outcome for r in a + c] == [ItemOutcome.OK] * 5
    assert [r.outcome for r in b] == [ItemOutcome.TOO_MANY]


def test_reaching_flush_bytes_sends_without_waiting_for_the_interval() -> None:
    bulk = FakeBulk()

    async def main() -> list[ItemResult]:
        indexer = BulkIndexer(bulk, flush_bytes=100, flush_interval=HOUR)
        results = await asyncio.wait_for(indexer.index(_docs("big", 5)), timeout=30)  # not an hour
        await indexer.close()
        return results

    assert len(asyncio.run(main())) == 5
    assert sum(len(r) for r in bulk.requests) == 5
    assert len(bulk.requests) > 1  # and no request exceeds flush::bytes (one document may travel alone)


def test_close_flushes_what_is_buffered() -> None:
    bulk = FakeBulk()

    async def main() -> list[ItemResult]:
        indexer = BulkIndexer(bulk, flush_bytes=1_000_000, flush_interval=HOUR)
        waiting = asyncio.create_task(indexer.index(_docs("late", 2)))
        await asyncio.sleep(0)
        await indexer.close()
        return await waiting

    assert _tags(asyncio.run(main())) == ["late", "late"]


def test_a_cancelled_export_takes_its_unsent_documents_back() -> None:
    bulk = FakeBulk()

    async def main() -> None:
        indexer = BulkIndexer(bulk, flush_bytes=1_000_000, flush_interval=HOUR)
        waiting = asyncio.create_task(indexer.index(_docs("gone", 2)))
        await asyncio.sleep(0)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        await indexer.close()

    asyncio.run(main())
    assert bulk.requests == []


def test_a_transport_failure_makes_every_document_retryable() -> None:
    bulk = FakeBulk(fail=ConnectionError("connection refused"))

    async def main() -> list[ItemResult]:
        indexer = BulkIndexer(bulk, flush_bytes=1_000_000, flush_interval=0)
        results = await indexer.index(_docs("a", 3))
        await indexer.close()
        return results

    results = asyncio.run(main())
    assert [r.outcome for r in results] == [ItemOutcome.SERVER] * 3
    assert results[0].error is not None and "ConnectionError" in results[0].error["reason"]


def test_an_answer_with_the_wrong_number_of_items_is_retried_not_trusted() -> None:
    async def short_answer(body: bytes) -> Response:
        return 200, {}, {"errors": False, "items": [{"create": {"status": 201}}]}

    async def main() -> list[ItemResult]:
        indexer = BulkIndexer(short_answer, flush_bytes=1_000_000, flush_interval=0)
        results = await indexer.index(_docs("a", 2))
        await indexer.close()
        return results

    assert [r.outcome for r in asyncio.run(main())] == [ItemOutcome.SERVER] * 2
