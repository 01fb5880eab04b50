"""Head-of-line blocking: how long small OTLP/HTTP requests wait while one big request (~4 MB of spans with
personal data) goes through ``memory_limiter -> pii -> batch``, next to the same small requests on an idle
collector in the same run (the baseline). Before big requests were decoded and processed off the event loop,
every small request sent meanwhile waited for the whole big one (8-13 s on 2 shared cores).

    .venv/bin/python bench/bench_head_of_line.py [--rounds N] [--spans N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from collector.testing import running_collector  # noqa: E402
from tests.support import free_port  # noqa: E402

H = {"Content-Type": "application/x-protobuf"}


def body(n: int) -> bytes:
    req = ExportTraceServiceRequest()
    ss = req.resource_spans.add().scope_spans.add()
    for i in range(n):
        span = ss.spans.add(name=f"SELECT users {i}", trace_id=b"\x01" * 16, span_id=b"\x02" * 8)
        span.attributes.add(key="db.statement").value.string_value = (
            f"SELECT * FROM users WHERE email='user{i}@example.com' AND phone='+1 415 555 {i % 10000:04d}'")
        span.attributes.add(key="http.url").value.string_value = f"https://api.example.com/items/{i}?q=abc"
    return req.SerializeToString()


def config(port: int) -> dict[str, Any]:
    return {
        "receivers": {"otlp": {"protocols": {"http": {"endpoint": f"127.0.0.1:{port}"}}}},
        "processors": {"memory_limiter": {"limit_mib": 512}, "pii": {}, "batch": {}},
        "exporters": {"debug": {}},
        "service": {"pipelines": {"traces": {"receivers": ["otlp"], "processors": ["memory_limiter", "pii", "batch"],
                                             "exporters": ["debug"]}},
                    "telemetry": {"metrics": {"level": "none"}}},
    }


def small_latencies(client: httpx.Client, url: str, small: bytes, until: threading.Event | None, n: int) -> list[float]:
    out: list[float] = []
    while (until is not None and not until.is_set()) or (until is None and len(out) < n):
        t = time.perf_counter()
        client.post(url, content=small, headers=H, timeout=300)
        out.append(time.perf_counter() - t)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--spans", type=int, default=20_000, help="spans in the big request")
    args = parser.parse_args()
    big, small = body(args.spans), body(2)
    port = free_port()
    url = f"http://127.0.0.1:{port}/v1/traces"
    with running_collector(config(port)), httpx.Client() as client:
        idle = small_latencies(client, url, small, None, 200)
        print(f"small requests on an idle collector: median {statistics.median(idle) * 1000:.1f} ms, "
              f"slowest {max(idle) * 1000:.1f} ms")
        for _ in range(args.rounds):
            done = threading.Event()
            took: list[float] = []

            def send_big() -> None:
                t = time.perf_counter()
                httpx.post(url, content=big, headers=H, timeout=300)
                took.append(time.perf_counter() - t)  # noqa: B023
                done.set()  # noqa: B023

            thread = threading.Thread(target=send_big)
            thread.start()
            busy = small_latencies(client, url, small, done, 0)
            thread.join()
            print(f"big request of {len(big) / 1e6:.1f} MB took {took[0]:.2f} s; {len(busy)} small requests meanwhile, "
                  f"slowest {max(busy) * 1000:.0f} ms ({max(busy) / took[0]:.3f} of the big one; "
                  f"{max(busy) / max(idle):.0f}x the idle slowest)")


if __name__ == "__main__":
    main()
