"""Items per CPU-second through the collector on realistic telemetry, against rotel's pass-through.

Load: realistic spans and logs (`bench/workload.py`: 8-9 attributes per span, one in eight with an e-mail and a
SQL text holding a phone number; logs with 200-byte bodies), 256 items per OTLP/HTTP protobuf request, sent by
``--concurrency`` clients (default 6). Each body is one of 256 different requests (more distinct e-mails,
phone numbers and paths than any cache of the engine holds), so values differ from request to request. The
figure that counts is items per CPU-second of the collector's processes (the main process and its workers):
on a shared, noisy machine it moves far less than wall-clock rates.

Cases (each in its own collector, one after another, in the same run):

* traces otlp -> memory_limiter -> pii -> batch -> otlphttp, 1 worker (the target: >= 50k spans per CPU-s)
* the same without pii (pass-through: nothing decoded beyond what the exporter needs), 1 worker
* traces with pii -> file (OTLP/JSON lines), 1 worker
* logs with pii -> otlphttp, 1 worker
* traces with pii -> otlphttp, ``--workers N`` (default: the cores available)
* rotel (the Rust collector from PyPI, `pip install rotel`), otlp -> blackhole, the same load: the ratio's base

The otlphttp exporter sends to a sink process that reads each request and answers 200 (its CPU is not counted).

    .venv/bin/python bench/bench_collector.py [--seconds 5] [--concurrency 6] [--client-processes 2] [--workers N]
                                               [--only NAME]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from workload import log_request, span_request  # noqa: E402

from tests.support import free_port  # noqa: E402

ITEMS_PER_REQUEST = 256
DISTINCT_BODIES = 256
TARGET = 50_000

# A sink for the otlphttp exporter: reads each request (Content-Length bodies) and answers 200, empty body.
SINK = r"""
import asyncio, sys

class Sink(asyncio.Protocol):
    def connection_made(self, transport):
        self.t, self.buf, self.need = transport, b"", None
    def data_received(self, data):
        self.buf += data
        while True:
            if self.need is None:
                end = self.buf.find(b"\r\n\r\n")
                if end < 0:
                    return
                head = self.buf[:end].lower()
                i = head.find(b"content-length:")
                self.need = end + 4 + (int(head[i + 15:].split(b"\r\n", 1)[0]) if i >= 0 else 0)
            if len(self.buf) < self.need:
                return
            self.buf, self.need = self.buf[self.need:], None
            self.t.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\nContent-Length: 0\r\n\r\n")

async def main():
    server = await asyncio.get_running_loop().create_server(Sink, "127.0.0.1", int(sys.argv[1]))
    await server.serve_forever()

asyncio.run(main())
"""

CONFIG = """
receivers:
  otlp: {{protocols: {{http: {{endpoint: "127.0.0.1:{port}"}}}}}}
processors:
  memory_limiter: {{check_interval: 1s, limit_percentage: 90, spike_limit_percentage: 20}}
  pii: {{}}
  batch: {{send_batch_size: 8192, send_batch_max_size: 16384, timeout: 200ms}}
exporters:
  otlphttp: {{endpoint: "http://127.0.0.1:{sink}"}}
  file: {{path: "{out}"}}
service:
  telemetry: {{metrics: {{level: none}}, logs: {{level: warn}}}}
  pipelines: {{{signal}: {{receivers: [otlp], processors: [{processors}], exporters: [{exporter}]}}}}
"""


@dataclass
class Case:
    name: str
    signal: str  # traces | logs
    pii: bool
    exporter: str  # otlphttp | file
    workers: int = 1


@dataclass
class Result:
    items_per_s: float
    items_per_cpu_s: float
    cpu_share: float  # CPU-seconds per wall second (1.0 = one core busy)


def cpu_seconds(pid: int) -> float:
    """CPU time of a process and all its children (a collector's workers)."""
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0.0
    for p in procs:
        try:
            t = p.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += t.user + t.system
    return total


async def wait_ready(url: str, body: bytes, deadline: float = 60.0) -> None:
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
            await asyncio.sleep(0.2)


async def _clients(url: str, bodies: list[bytes], concurrency: int, offset: int, counting: Any, stop: Any,
                   done: Any) -> None:
    headers = {"Content-Type": "application/x-protobuf"}

    async def client(session: aiohttp.ClientSession, i: int) -> None:
        while not stop.value:
            async with session.post(url, data=bodies[i % len(bodies)], headers=headers) as r:
                await r.read()
                if r.status != 200:
                    raise RuntimeError(f"HTTP {r.status}")
            i += 1
            if counting.value:
                with done.get_lock():
                    done.value += 1

    # one connection per client: with several workers, the kernel spreads connections over them
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(*(client(session, offset + k * 7) for k in range(concurrency)))


def _client_process(url: str, bodies: list[bytes], concurrency: int, offset: int, counting: Any, stop: Any,
                    done: Any) -> None:
    asyncio.run(_clients(url, bodies, concurrency, offset, counting, stop, done))


def load(url: str, bodies: list[bytes], seconds: float, concurrency: int, processes: int, pid: int) -> Result:
    """Requests answered 200 in ``seconds`` (after a 2 s warm-up), from ``concurrency`` clients spread over
    ``processes`` load-generator processes, and the CPU the server's processes used meanwhile."""
    ctx = multiprocessing.get_context("fork")
    counting, stop, done = ctx.Value("b", 0), ctx.Value("b", 0), ctx.Value("q", 0)
    shares = [concurrency // processes + (1 if k < concurrency % processes else 0) for k in range(processes)]
    workers = [ctx.Process(target=_client_process, args=(url, bodies, n, k * 101, counting, stop, done))
               for k, n in enumerate(shares) if n]
    for w in workers:
        w.start()
    try:
        time.sleep(2.0)
        cpu, wall = cpu_seconds(pid), time.monotonic()
        counting.value = 1
        time.sleep(seconds)
        counting.value = 0
        cpu, wall = cpu_seconds(pid) - cpu, time.monotonic() - wall
        items = done.value * ITEMS_PER_REQUEST
    finally:
        stop.value = 1
        for w in workers:
            w.join(timeout=60)
            if w.is_alive():
                w.kill()
    return Result(items / wall, items / max(cpu, 1e-9), cpu / wall)


def run_server(cmd: list[str], url: str, bodies: list[bytes], args: argparse.Namespace) -> Result:
    proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        asyncio.run(wait_ready(url, bodies[0]))
        return load(url, bodies, args.seconds, args.concurrency, args.client_processes, proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def rotel_binary() -> tuple[str | None, str]:
    """The rotel agent shipped in the ``rotel`` wheel, or None and why not."""
    try:
        import rotel  # noqa: PLC0415 - optional, from the bench extra
    except ImportError:
        return None, "rotel is not installed (pip install -e '.[bench]')"
    path = Path(rotel.__file__).parent / "rotel-agent"
    if not path.exists():
        return None, f"the rotel wheel has no agent binary for this platform ({path} missing)"
    try:
        subprocess.run([str(path), "version"], check=True, capture_output=True, timeout=20)
    except (OSError, subprocess.SubprocessError) as exc:
        return None, f"the rotel agent cannot run here: {exc}"
    return str(path), ""


def run_case(case: Case, bodies: dict[str, list[bytes]], args: argparse.Namespace, tmp: Path, sink: int) -> Result:
    port = free_port()
    processors = ", ".join(["memory_limiter", *(["pii"] if case.pii else []), "batch"])
    cfg = tmp / f"{case.name}.yaml"
    cfg.write_text(CONFIG.format(port=port, sink=sink, out=tmp / f"{case.name}.jsonl", signal=case.signal,
                                 processors=processors, exporter=case.exporter))
    cmd = [sys.executable, "-m", "otel_distro.cli", "collector", "run", "--config", str(cfg),
           "--workers", str(case.workers)]
    url = f"http://127.0.0.1:{port}/v1/{case.signal}"
    return run_server(cmd, url, bodies[case.signal], args)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=6)
    parser.add_argument("--client-processes", type=int, default=2,
                        help="load-generator processes the clients are spread over (one Python process is the limit "
                             "before a collector with several workers is)")
    parser.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--only", help="run only the cases whose name contains this")
    args = parser.parse_args()
    bodies = {"traces": [span_request(ITEMS_PER_REQUEST, seed) for seed in range(DISTINCT_BODIES)],
              "logs": [log_request(ITEMS_PER_REQUEST, seed) for seed in range(DISTINCT_BODIES)]}
    cases = [
        Case("traces pii -> otlphttp, 1 worker", "traces", True, "otlphttp"),
        Case("traces no pii -> otlphttp, 1 worker", "traces", False, "otlphttp"),
        Case("traces pii -> file, 1 worker", "traces", True, "file"),
        Case("logs pii -> otlphttp, 1 worker", "logs", True, "otlphttp"),
        Case(f"traces pii -> otlphttp, {args.workers} workers", "traces", True, "otlphttp", args.workers),
    ]
    if args.only:
        cases = [c for c in cases if args.only in c.name]
    print(f"load: {ITEMS_PER_REQUEST} items per request ({len(bodies['traces'][0]):,} bytes of spans, "
          f"{len(bodies['logs'][0]):,} bytes of logs), {args.concurrency} clients in {args.client_processes} "
          f"processes, {args.seconds:g} s per case; {os.cpu_count()} CPUs")
    print(f"{'case':44} {'items/s (wall)':>15} {'items per CPU-s':>16} {'cores busy':>11}")
    results: dict[str, Result] = {}
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        sink_port = free_port()
        sink = subprocess.Popen([sys.executable, "-c", SINK, str(sink_port)])
        try:
            for case in cases:
                r = results[case.name] = run_case(case, bodies, args, tmp, sink_port)
                print(f"{case.name:44} {r.items_per_s:>15,.0f} {r.items_per_cpu_s:>16,.0f} {r.cpu_share:>11.2f}",
                      flush=True)
                for f in tmp.glob("*.jsonl"):
                    f.unlink()
        finally:
            sink.terminate()
            sink.wait()
        binary, why = rotel_binary()
        rotel: Result | None = None
        if binary is None:
            print(f"rotel: skipped: {why}")
        elif not args.only or "rotel" in args.only:
            port = free_port()
            cmd = [binary, "start", "--otlp-http-endpoint", f"127.0.0.1:{port}",
                   "--otlp-grpc-endpoint", f"127.0.0.1:{free_port()}", "--exporter", "blackhole",
                   "--pid-file", str(tmp / "rotel.pid")]
            rotel = run_server(cmd, f"http://127.0.0.1:{port}/v1/traces", bodies["traces"], args)
            name = "rotel otlp -> blackhole (pass-through)"
            print(f"{name:44} {rotel.items_per_s:>15,.0f} {rotel.items_per_cpu_s:>16,.0f} "
                  f"{rotel.cpu_share:>11.2f}")
        shutil.rmtree(tmp, ignore_errors=True)
    if rotel is not None:
        print("ratio to rotel's pass-through, per CPU-second:")
        for name, r in results.items():
            print(f"  {name:42} {r.items_per_cpu_s / rotel.items_per_cpu_s:>8.3f}")
    main_case = results.get(cases[0].name) if cases else None
    if main_case is not None and cases[0].name.startswith("traces pii -> otlphttp, 1"):
        met = "met" if main_case.items_per_cpu_s >= TARGET else "NOT met"
        print(f"target {TARGET:,} spans per CPU-second with pii (1 worker): {met}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
