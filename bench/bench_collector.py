"""Spans/s through the collector: OTLP/HTTP (protobuf) -> batch -> file exporter (OTLP/JSON lines).

The collector runs as its own process (one asyncio event loop: one core). The same load is sent, in the same
run, to a pass-through baseline: a bare aiohttp server that only reads the body and answers 200. Printed: both
throughputs on the wall clock and per CPU-second of the server process (the "per core" figure, robust to a
shared, noisy machine), and their ratios. Target: >= 50k spans per CPU-second for the collector.

    .venv/bin/python bench/bench_collector.py [--seconds 5] [--spans-per-request 256] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import psutil
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support import free_port  # noqa: E402

BASELINE = """
import sys
from aiohttp import web

async def handle(request):
    await request.read()
    return web.Response(body=b"", content_type="application/x-protobuf")

app = web.Application(client_max_size=64 * 1024 * 1024)
app.router.add_post("/v1/traces", handle)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
"""

CONFIG = """
receivers:
  otlp: {{protocols: {{http: {{endpoint: "127.0.0.1:{port}"}}}}}}
processors:
  batch: {{send_batch_size: 8192, send_batch_max_size: 16384, timeout: 200ms}}
exporters:
  file: {{path: "{out}"}}
service:
  telemetry: {{metrics: {{level: none}}, logs: {{level: warn}}}}
  pipelines: {{traces: {{receivers: [otlp], processors: [batch], exporters: [file]}}}}
"""


def request_body(spans: int) -> bytes:
    """A realistic server-span request: resource + scope, 4 attributes per span, unique ids."""
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.resource.attributes.add(key="service.name").value.string_value = "bench-api"
    ss = rs.scope_spans.add()
    ss.scope.name = "opentelemetry.instrumentation.fastapi"
    for i in range(spans):
        span = ss.spans.add(name="POST /api/chat/messages", kind=2, trace_id=(i + 1).to_bytes(16, "big"),
                            span_id=(i + 1).to_bytes(8, "big"), parent_span_id=(i + 7).to_bytes(8, "big"),
                            start_time_unix_nano=1_700_000_000_000_000_000 + i,
                            end_time_unix_nano=1_700_000_000_004_000_000 + i)
        span.attributes.add(key="http.request.method").value.string_value = "POST"
        span.attributes.add(key="http.route").value.string_value = "/api/chat/messages"
        span.attributes.add(key="http.response.status_code").value.int_value = 200
        span.attributes.add(key="user.id").value.string_value = f"user-{i % 97}"
    return req.SerializeToString()


async def wait_ready(url: str, body: bytes, deadline: float = 30.0) -> None:
    start = time.monotonic()
    async with aiohttp.ClientSession() as session:
        while True:
            try:
                async with session.post(url, data=body, headers={"Content-Type": "application/x-protobuf"}) as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            if time.monotonic() - start > deadline:
                raise TimeoutError(f"{url} did not come up")
            await asyncio.sleep(0.1)


def cpu_seconds(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


async def load(url: str, body: bytes, seconds: float, concurrency: int, pid: int) -> tuple[int, float]:
    """Requests answered 200 in ``seconds`` (after a 1 s warm-up), from ``concurrency`` workers, and the CPU
    seconds the server process used meanwhile."""
    headers = {"Content-Type": "application/x-protobuf"}
    done = 0
    counting = False
    stop = False

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal done
        while not stop:
            async with session.post(url, data=body, headers=headers) as r:
                await r.read()
                if r.status != 200:
                    raise RuntimeError(f"HTTP {r.status}")
            if counting:
                done += 1

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        tasks = [asyncio.create_task(worker(session)) for _ in range(concurrency)]
        await asyncio.sleep(1.0)
        cpu = cpu_seconds(pid)
        counting = True
        await asyncio.sleep(seconds)
        counting = False
        cpu = cpu_seconds(pid) - cpu
        stop = True
        await asyncio.gather(*tasks)
    return done, cpu


def run_against(cmd: list[str], url: str, body: bytes, seconds: float, concurrency: int) -> tuple[float, float]:
    """(requests/s on the wall clock, requests per CPU-second of the server process)."""
    proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        asyncio.run(wait_ready(url, body))
        done, cpu = asyncio.run(load(url, body, seconds, concurrency, proc.pid))
        return done / seconds, done / max(cpu, 1e-9)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--spans-per-request", type=int, default=256)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    body = request_body(args.spans_per_request)
    n = args.spans_per_request
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        cfg = Path(tmp) / "collector.yaml"
        cfg.write_text(CONFIG.format(port=port, out=Path(tmp) / "out.jsonl"))
        collector, collector_cpu = run_against(
            [sys.executable, "-m", "otel_distro.cli", "collector", "run", "--config", str(cfg)],
            f"http://127.0.0.1:{port}/v1/traces", body, args.seconds, args.concurrency)
        port = free_port()
        baseline, baseline_cpu = run_against([sys.executable, "-c", BASELINE, str(port)],
                                             f"http://127.0.0.1:{port}/v1/traces", body, args.seconds,
                                             args.concurrency)
        written = (Path(tmp) / "out.jsonl").stat().st_size
    print(f"request: {n} spans, {len(body)} bytes protobuf; {args.concurrency} concurrent clients, {args.seconds:g}s")
    print(f"{'':39} {'spans/s (wall)':>15} {'spans per CPU-s':>16}")
    print(f"collector  otlp/http -> batch -> file : {collector * n:>15,.0f} {collector_cpu * n:>16,.0f}"
          f"   ({written / 1e6:,.0f} MB of OTLP/JSON written)")
    print(f"baseline   bare aiohttp, read body    : {baseline * n:>15,.0f} {baseline_cpu * n:>16,.0f}")
    ratio_cpu = collector_cpu / baseline_cpu
    print(f"ratio collector/baseline              : {collector / baseline:>15.3f} {ratio_cpu:>16.3f}")
    target = 50_000
    per_core = collector_cpu * n
    print(f"target {target:,} spans/s per core (CPU-s): {'met' if per_core >= target else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
