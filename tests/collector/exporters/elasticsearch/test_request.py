"""``_bulk`` bodies: NDJSON ``create`` actions, capped by flush::bytes."""

from __future__ import annotations

import json

from collector.exporters.elasticsearch._encoder import Doc
from collector.exporters.elasticsearch._request import action_line, build_requests


def _doc(i: int, size: int = 10) -> Doc:
    return Doc("logs-generic.otel-default", json.dumps({"n": i, "pad": "x" * size}).encode(), (0, 0, i))


def test_action_lines_are_create_actions() -> None:
    assert json.loads(action_line("logs-a-b")) == {"create": {"_index": "logs-a-b"}}
    assert action_line("logs-a-b").endswith(b"\n")


def test_one_request_holds_action_and_source_per_document() -> None:
    [request] = build_requests([_doc(0), _doc(1)], max_bytes=10_000)

    lines = request.body.decode().splitlines()
    assert [json.loads(x) for x in lines] == [
        {"create": {"_index": "logs-generic.otel-default"}}, {"n": 0, "pad": "x" * 10},
        {"create": {"_index": "logs-generic.otel-default"}}, {"n": 1, "pad": "x" * 10},
    ]
    assert request.body.endswith(b"\n")
    assert [d.ref for d in request.docs] == [(0, 0, 0), (0, 0, 1)]


def test_requests_are_split_at_max_bytes_keeping_order() -> None:
    docs = [_doc(i, size=100) for i in range(10)]

    requests = list(build_requests(docs, max_bytes=500))

    assert len(requests) > 1
    assert all(len(r.body) <= 500 for r in requests)
    assert [d for r in requests for d in r.docs] == docs


def test_a_document_larger_than_max_bytes_travels_alone() -> None:
    docs = [_doc(0), _doc(1, size=1000), _doc(2)]

    requests = list(build_requests(docs, max_bytes=200))

    assert [[d.ref[2] for d in r.docs] for r in requests] == [[0], [1], [2]]


def test_no_documents_no_request() -> None:
    assert list(build_requests([], max_bytes=100)) == []
