"""A batch still serialized is written as OTLP/JSON through the lean types: the very same JSON as from messages."""

from __future__ import annotations

import sys

import orjson
import pytest

from collector import otlpjson
from collector.otlpjson import _encode
from collector.pdata import Batch, Signal
from tests.support import OTLP_EXAMPLES, ROOT

sys.path.insert(0, str(ROOT / "bench"))
from workload import log_request, span_request


def from_messages(batch: Batch) -> bytes:
    return orjson.dumps(_encode._message(batch.view))


@pytest.mark.parametrize(("signal", "name"), [(Signal.TRACES, "trace.json"), (Signal.LOGS, "logs.json"),
                                               (Signal.LOGS, "events.json")])
def test_the_official_examples_encode_the_same(signal: Signal, name: str) -> None:
    data = otlpjson.decode(signal, (OTLP_EXAMPLES / name).read_bytes()).to_bytes()
    batch = Batch.from_bytes(signal, data)
    assert batch.has_bytes
    assert otlpjson.encode(batch) == from_messages(batch)


@pytest.mark.parametrize("seed", range(3))
def test_realistic_spans_and_logs_encode_the_same_twice(seed: int) -> None:
    for signal, data in ((Signal.TRACES, span_request(64, seed)), (Signal.LOGS, log_request(64, seed))):
        batch = Batch.from_bytes(signal, data)
        first = otlpjson.encode(batch)
        assert first == from_messages(batch)
        assert otlpjson.encode(Batch.from_bytes(signal, data)) == first  # remembered pairs give the same
