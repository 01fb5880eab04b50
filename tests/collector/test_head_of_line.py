"""One big request does not hold up the others: its body is decoded, and its batch processed, in a worker thread
while the event loop serves other clients; small requests keep the inline fast path."""

from __future__ import annotations

import asyncio
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from collector.component import OFF_LOOP_BYTES, ComponentID, Kind, NoopTelemetry
from collector.memory import LEDGER
from collector.pdata import Batch, Signal
from collector.pipeline import ProcessorChain
from collector.receivers.otlp import common
from collector.registry import COMPONENTS
from collector.testing import running_collector
from tests.collector import _gate
from tests.support import free_port

PB = {"Content-Type": "application/x-protobuf"}


def spans(n: int) -> bytes:
    req = ExportTraceServiceRequest()
    ss = req.resource_spans.add().scope_spans.add()
    for i in range(n):
        ss.spans.add(name=f"span-{i}", trace_id=b"\x01" * 16, span_id=b"\x02" * 8)
    return req.SerializeToString()


def config(tmp_path: Path, port: int) -> dict[str, Any]:
    return {
        "receivers": {"otlp": {"protocols": {"http": {"endpoint": f"127.0.0.1:{port}"}}}},
        "processors": {"gate": {}},
        "exporters": {"file": {"path": str(tmp_path / "out.jsonl"), "flush_interval": 0}},
        "service": {"pipelines": {"traces": {"receivers": ["otlp"], "processors": ["gate"], "exporters": ["file"]}},
                    "telemetry": {"metrics": {"level": "none"}}},
    }


def test_a_small_request_completes_while_a_big_one_is_being_processed(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(COMPONENTS[Kind.PROCESSOR], "gate", "tests.collector._gate")
    big, small = spans(12_000), spans(3)
    assert len(big) > OFF_LOOP_BYTES >= len(small)
    port = free_port()
    url = f"http://127.0.0.1:{port}/v1/traces"
    with running_collector(config(tmp_path, port)) as c, ThreadPoolExecutor(1) as pool:
        gate = _gate.GATES[-1]
        loop_thread = c.call(_thread_id())
        big_reply = pool.submit(httpx.post, url, content=big, headers=PB, timeout=120)
        assert gate.big_entered.wait(60)
        small_reply = httpx.post(url, content=small, headers=PB, timeout=120)
        big_done_before_small = big_reply.done()
        gate.open.set()
        assert big_reply.result().status_code == 200
    assert small_reply.status_code == 200
    assert not big_done_before_small
    assert gate.events == ["big entered", "small", "big left"]
    assert gate.threads["small"] == loop_thread  # the fast path: no thread hop for small batches
    assert gate.threads["big"] != loop_thread


async def _thread_id() -> int:
    return threading.get_ident()


def test_big_bodies_are_decoded_off_the_event_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    threads: list[int] = []
    decode = common._decode

    def recording(signal: Signal, body: bytes, json: bool) -> Any:
        threads.append(threading.get_ident())
        return decode(signal, body, json)

    monkeypatch.setattr(common, "_decode", recording)

    async def scenario() -> int:
        small_batch, _, _ = await common.decode(Signal.TRACES, spans(3))
        big_batch, _, _ = await common.decode(Signal.TRACES, spans(12_000))
        assert (small_batch.item_count(), big_batch.item_count()) == (3, 12_000)
        return threading.get_ident()

    loop_thread = asyncio.run(scenario())
    assert threads[0] == loop_thread
    assert threads[1] != loop_thread


class _Recorder:
    def __init__(self, name: str, threads: list[tuple[str, int]], thread_safe: bool) -> None:
        self.name = name
        self.threads = threads
        self.thread_safe = thread_safe

    def __call__(self, batch: Batch) -> Batch:
        self.threads.append((self.name, threading.get_ident()))
        return batch


class _Sink:
    def __init__(self) -> None:
        self.got: list[Batch] = []

    async def consume(self, batch: Batch) -> None:
        self.got.append(batch)


def test_a_big_batch_goes_through_the_leading_thread_safe_processors_in_a_thread_the_rest_on_the_loop() -> None:
    threads: list[tuple[str, int]] = []
    chain = ProcessorChain("traces", [
        (ComponentID("safe"), _Recorder("safe", threads, thread_safe=True)),
        (ComponentID("unsafe"), _Recorder("unsafe", threads, thread_safe=False)),
        (ComponentID("safe/after"), _Recorder("safe/after", threads, thread_safe=True)),
    ], _Sink(), NoopTelemetry())

    async def scenario() -> int:
        await chain.consume(Batch.from_bytes(Signal.TRACES, spans(3)))
        await chain.consume(Batch.from_bytes(Signal.TRACES, spans(12_000)))
        return threading.get_ident()

    loop = asyncio.run(scenario())
    small, big = threads[:3], threads[3:]
    assert [t for _, t in small] == [loop] * 3
    assert [name for name, _ in big] == ["safe", "unsafe", "safe/after"]
    assert big[0][1] != loop
    assert [t for _, t in big[1:]] == [loop, loop]


def test_a_client_that_hangs_up_mid_request_leaves_nothing_held(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(COMPONENTS[Kind.PROCESSOR], "gate", "tests.collector._gate")
    big = spans(12_000)
    port = free_port()
    with running_collector(config(tmp_path, port)):
        gate = _gate.GATES[-1]
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n"
                         b"Content-Length: %d\r\n\r\n" % len(big) + big)
            assert gate.big_entered.wait(60)
            assert LEDGER.by_component() == {"receiver": len(big)}
        gate.open.set()  # the client is gone; the request finishes without it
    assert LEDGER.held() == 0
