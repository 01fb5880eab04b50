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
* traces and logs with pii -> otlphttp, 1 worker and ``--workers N``, the load from ``wrk`` (``bench/wrk_otlp.lua``,
  the same 256 bodies): how far wall-clock throughput grows with N. The Python clients above take a good part of
  the 2 cores themselves; wrk sends a 256-span request for a few microseconds of CPU, so the collector's workers
  get the cores. These cases print the growth (N workers / 1 worker, spans accepted per wall second), wrk's and
  the sink's CPU share, the load average, and check that the sink received every span accepted (skipped, with
  one line, where wrk is not installed: ``apt-get install wrk``)
* traces the same, N worker processes started by the bench, each in its own session (the same worker processes
  ``--workers N`` runs, sharing the port, without their supervisor): where the kernel shares CPU time between
  sessions (Linux autogroup) and other sessions keep the cores busy, ``--workers N`` gets one session's share
  whatever N; this case shows what the workers reach when each gets a share, as separate services would

The otlphttp exporter sends to a sink process that reads each request and answers 200 (its CPU is not counted;
in the wrk cases it also counts the spans it receives, its CPU printed).

    .venv/bin/python bench/bench_collector.py [--seconds 5] [--concurrency 6] [--client-processes 2] [--workers N]
                                               [--wrk-seconds 20] [--wrk-connections 16] [--wrk-rounds 1]
                                               [--only NAME]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from workload import count_items, log_request, span_request  # noqa: E402

from tests.support import free_port, wait_healthy  # noqa: E402

ITEMS_PER_REQUEST = 256
DISTINCT_BODIES = 256
TARGET = 50_000
WRK_SCRIPT = ROOT / "bench" / "wrk_otlp.lua"

# A sink for the otlphttp exporter: reads each request (Content-Length bodies) and answers 200, empty body. Given
# the bench directory as a second argument, it also counts the spans / log records it receives (gunzipping what
# came gzipped; `workload.count_items`) and answers ``GET /count`` with the total.
SINK = r"""
import asyncio, sys, zlib

COUNTING = len(sys.argv) > 2
if COUNTING:
    sys.path.insert(0, sys.argv[2])
    from workload import count_items
received = [0]

class Sink(asyncio.Protocol):
    def connection_made(self, transport):
        self.t, self.buf, self.need, self.head, self.start = transport, b"", None, b"", 0
    def data_received(self, data):
        self.buf += data
        while True:
            if self.need is None:
                end = self.buf.find(b"\r\n\r\n")
                if end < 0:
                    return
                head = self.head = self.buf[:end].lower()
                i = head.find(b"content-length:")
                self.start = end + 4
                self.need = end + 4 + (int(head[i + 15:].split(b"\r\n", 1)[0]) if i >= 0 else 0)
            if len(self.buf) < self.need:
                return
            body, head = self.buf[self.start:self.need], self.head
            self.buf, self.need = self.buf[self.need:], None
            if head.startswith(b"get /count"):
                text = str(received[0]).encode()
                self.t.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(text), text))
                continue
            if COUNTING:
                if b"content-encoding: gzip" in head:
                    body = zlib.decompress(body, 31)
                received[0] += count_items(body)
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
extensions:
  health_check: {{endpoint: "127.0.0.1:{health}"}}
service:
  extensions: [health_check]
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
    wrk: bool = False  # the load from wrk (run_wrk_case), not the Python clients
    sessions: bool = False  # wrk cases: the workers started one by one, each in its own session, no supervisor


@dataclass
class Result:
    items_per_s: float
    items_per_cpu_s: float
    cpu_share: float  # CPU-seconds per wall second (1.0 = one core busy)


@dataclass
class WrkResult(Result):
    exported_per_s: float  # items the sink received per wall second, same window as items_per_s (accepted)
    wrk_share: float  # wrk's CPU-seconds per wall second
    sink_share: float
    load: tuple[float, float]  # the 1-minute load average before and after the measured run
    processes: list[float]  # cores busy, the collector's processes one by one (its supervisor first, if any)
    check: str  # whether the sink received every item accepted


def process_cpu_seconds(pid: int) -> dict[int, float]:
    """CPU time of a process and of each of its children (a collector's workers), by pid."""
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return {}
    found: dict[int, float] = {}
    for p in procs:
        try:
            t = p.cpu_times()
        except psutil.NoSuchProcess:
            continue
        found[p.pid] = t.user + t.system
    return found


def all_cpu_seconds(procs: list[subprocess.Popen[bytes]]) -> dict[int, float]:
    return {pid: t for p in procs for pid, t in process_cpu_seconds(p.pid).items()}


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


def run_server(cmd: list[str], url: str, bodies: list[bytes], args: argparse.Namespace,
               health: int | None = None) -> Result:
    """``health``: the collector's health_check port, 200 once every worker is ready (a worker that is still
    starting would not get its share of the connections the load opens)."""
    proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        asyncio.run(wait_ready(url, bodies[0]))
        if health is not None:
            wait_healthy(health, timeout=120)
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


def collector_command(case: Case, tmp: Path, port: int, sink: int, health: int) -> list[str]:
    processors = ", ".join(["memory_limiter", *(["pii"] if case.pii else []), "batch"])
    cfg = tmp / f"{case.name}.yaml"
    cfg.write_text(CONFIG.format(port=port, sink=sink, out=tmp / f"{case.name}.jsonl", signal=case.signal,
                                 processors=processors, exporter=case.exporter, health=health))
    return [sys.executable, "-m", "otel_distro.cli", "collector", "run", "--config", str(cfg),
            "--workers", str(case.workers)]


def run_case(case: Case, bodies: dict[str, list[bytes]], args: argparse.Namespace, tmp: Path, sink: int) -> Result:
    port, health = free_port(), free_port()
    cmd = collector_command(case, tmp, port, sink, health)
    url = f"http://127.0.0.1:{port}/v1/{case.signal}"
    return run_server(cmd, url, bodies[case.signal], args, health)


def sink_count(port: int) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/count", timeout=10) as r:
        return int(r.read())


def start_counting_sink(port: int) -> subprocess.Popen[bytes]:
    sink = subprocess.Popen([sys.executable, "-c", SINK, str(port), str(ROOT / "bench")])
    deadline = time.monotonic() + 30
    while True:
        try:
            sink_count(port)
            return sink
        except OSError:
            if time.monotonic() > deadline or sink.poll() is not None:
                sink.kill()
                raise RuntimeError("the counting sink did not come up") from None
            time.sleep(0.1)


def run_wrk(wrk: str, url: str, body_dir: Path, seconds: float, connections: int) -> tuple[int, float]:
    """Requests answered 2xx and wrk's own duration in seconds; any other answer, socket error or timeout
    is an error (the collector refused or lost load it should have taken)."""
    out = subprocess.run([wrk, "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "30s",
                          "-s", str(WRK_SCRIPT), url, "--", str(body_dir)],
                         capture_output=True, text=True, check=False)
    found = re.search(r"otlp-result requests=(\d+) duration_us=(\d+) non2xx=(\d+) connect=(\d+) read=(\d+) "
                      r"write=(\d+) timeout=(\d+)", out.stdout)
    if out.returncode != 0 or found is None:
        raise RuntimeError(f"wrk failed (exit {out.returncode}):\n{out.stdout}{out.stderr}")
    requests, duration_us, non2xx, *errors = (int(g) for g in found.groups())
    if non2xx or any(errors):
        raise RuntimeError(f"wrk saw {non2xx} answers other than 2xx and socket errors connect/read/write/timeout "
                           f"{errors} of {requests} requests:\n{out.stdout}")
    return requests, duration_us / 1e6


def children_cpu_seconds() -> float:
    """CPU time of this process's children that have ended (wrk, once it has exited)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def autogroup() -> bool:
    try:
        return Path("/proc/sys/kernel/sched_autogroup_enabled").read_text().strip() == "1"
    except OSError:
        return False


def run_wrk_case(case: Case, bodies: dict[str, list[bytes]], args: argparse.Namespace, tmp: Path,
                 wrk: str) -> WrkResult:
    """One collector under wrk's load: a warm-up, then ``--wrk-seconds`` measured; then waits until the sink has
    received everything accepted. Accepted: the readiness probe's request and every request wrk saw answered 2xx.
    wrk abandons the requests in flight when its time is up (one per connection at most), which the collector may
    still have taken: the sink may hold up to that many requests more, never fewer."""
    body_dir = tmp / f"bodies-{case.signal}"
    if not body_dir.exists():
        body_dir.mkdir()
        for i, body in enumerate(bodies[case.signal]):
            (body_dir / f"body-{i}.bin").write_bytes(body)
    per_request = count_items(bodies[case.signal][0])
    sink_port, port, health = free_port(), free_port(), free_port()
    url = f"http://127.0.0.1:{port}/v1/{case.signal}"
    cmd = collector_command(case, tmp, port, sink_port, health)
    run_dir = Path(tempfile.mkdtemp(prefix="run-", dir=tmp))  # the workers' ready files (sessions case)
    commands = ([[*cmd[:-1], "1", "--worker-index", str(i), "--worker-run-dir", str(run_dir)]
                 for i in range(case.workers)] if case.sessions else [cmd])
    procs: list[subprocess.Popen[bytes]] = []
    sink = start_counting_sink(sink_port)
    try:
        # its own session: where the kernel groups CPU time by session (autogroup), the collector does not share
        # one group's time with the load generator and the sink, as a collector on its own host would not
        procs.extend(subprocess.Popen(c, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
                     for c in commands)
        asyncio.run(wait_ready(url, bodies[case.signal][0]))
        if case.sessions:  # every worker up: each gets its share of wrk's connections
            deadline = time.monotonic() + 120
            while not all((run_dir / f"ready-{i}").exists() for i in range(case.workers)):
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{case.name}: not every worker became ready")
                time.sleep(0.1)
        else:
            wait_healthy(health, timeout=120)
        warm, _ = run_wrk(wrk, url, body_dir, 3, args.wrk_connections)
        load0 = os.getloadavg()[0]
        exported0, cpu0, sink_cpu0 = sink_count(sink_port), all_cpu_seconds(procs), cpu_seconds(sink.pid)
        wrk_cpu0, wall = children_cpu_seconds(), time.monotonic()
        answered, duration = run_wrk(wrk, url, body_dir, args.wrk_seconds, args.wrk_connections)
        wall = time.monotonic() - wall
        wrk_cpu = children_cpu_seconds() - wrk_cpu0
        exported1, cpu1 = sink_count(sink_port), all_cpu_seconds(procs)
        per_process = [(cpu1[pid] - cpu0.get(pid, 0.0)) / wall for pid in cpu1]
        cpu = sum(per_process) * wall
        sink_cpu = cpu_seconds(sink.pid) - sink_cpu0
        load1 = os.getloadavg()[0]
        accepted = (1 + warm + answered) * per_request
        deadline, exported, last_change = time.monotonic() + 60, sink_count(sink_port), time.monotonic()
        while time.monotonic() < deadline and time.monotonic() - last_change < 2:  # until 2 s without news
            time.sleep(0.2)
            now = sink_count(sink_port)
            if now != exported:
                exported, last_change = now, time.monotonic()
        extra = exported - accepted
        if extra == 0:
            check = f"exported == accepted ({exported:,})"
        elif 0 < extra <= 2 * args.wrk_connections * per_request and extra % per_request == 0:
            check = (f"exported == accepted ({accepted:,}) + {extra // per_request} requests wrk abandoned in flight "
                     "at its deadline")
        else:
            check = f"MISMATCH: the sink received {exported:,} of {accepted:,} accepted"
        items = answered * per_request
        return WrkResult(items / duration, items / max(cpu, 1e-9), cpu / wall, (exported1 - exported0) / wall,
                         wrk_cpu / wall, sink_cpu / wall, (load0, load1), per_process, check)
    finally:
        for p in (*procs, sink):
            p.terminate()
            try:
                p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=6)
    parser.add_argument("--client-processes", type=int, default=2,
                        help="load-generator processes the clients are spread over (one Python process is the limit "
                             "before a collector with several workers is)")
    parser.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--wrk-seconds", type=float, default=20.0, help="measured seconds of the wrk cases")
    parser.add_argument("--wrk-connections", type=int, default=16,
                        help="wrk's connections (one thread); the kernel hashes each to one worker, so with few of "
                             "them a worker may get none")
    parser.add_argument("--wrk-rounds", type=int, default=1,
                        help="rounds of the wrk cases (alternating; the ratios printed are the median round's)")
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
        *(Case(f"{signal} pii -> otlphttp, {n} worker{'s' if n > 1 else ''}, wrk load", signal, True, "otlphttp",
               n, wrk=True)
          for signal in ("traces", "logs") for n in dict.fromkeys([1, args.workers])),
        *([Case(f"traces pii -> otlphttp, {args.workers} workers, {args.workers} sessions, wrk", "traces", True,
                "otlphttp", args.workers, wrk=True, sessions=True)] if args.workers > 1 else []),
    ]
    if args.only:
        cases = [c for c in cases if args.only in c.name]
    wrk = shutil.which("wrk")
    if wrk is None and any(c.wrk for c in cases):
        print("wrk cases: skipped: wrk is not installed (apt-get install wrk; `make bench` installs it as root)")
        cases = [c for c in cases if not c.wrk]
    print(f"load: {ITEMS_PER_REQUEST} items per request ({len(bodies['traces'][0]):,} bytes of spans, "
          f"{len(bodies['logs'][0]):,} bytes of logs), {args.concurrency} clients in {args.client_processes} "
          f"processes, {args.seconds:g} s per case; {os.cpu_count()} CPUs")
    w = max([44, *(len(c.name) for c in cases)])
    print(f"{'case':{w}} {'items/s (wall)':>15} {'items per CPU-s':>16} {'cores busy':>11}")
    results: dict[str, Result] = {}
    wrk_rounds: list[dict[str, WrkResult]] = []
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        sink_port = free_port()
        sink = subprocess.Popen([sys.executable, "-c", SINK, str(sink_port)])
        try:
            for case in cases:
                if case.wrk:
                    continue
                r = results[case.name] = run_case(case, bodies, args, tmp, sink_port)
                print(f"{case.name:{w}} {r.items_per_s:>15,.0f} {r.items_per_cpu_s:>16,.0f} {r.cpu_share:>11.2f}",
                      flush=True)
                for f in tmp.glob("*.jsonl"):
                    f.unlink()
            # the wrk cases in rounds, one case after the other, the order reversed every other round: on a
            # machine whose other work comes and goes, the cases compared are measured close in time
            wrk_cases = [c for c in cases if c.wrk]
            for k in range(args.wrk_rounds if wrk_cases else 0):
                got: dict[str, WrkResult] = {}
                for case in wrk_cases if k % 2 == 0 else wrk_cases[::-1]:
                    assert wrk is not None
                    wr = got[case.name] = run_wrk_case(case, bodies, args, tmp, wrk)
                    print(f"{case.name:{w}} {wr.items_per_s:>15,.0f} {wr.items_per_cpu_s:>16,.0f} "
                          f"{wr.cpu_share:>11.2f}", flush=True)
                    print(f"    exported {wr.exported_per_s:,.0f}/s (wall); cores busy, collector processes: "
                          f"{' + '.join(f'{c:.2f}' for c in wr.processes)}; wrk {wr.wrk_share:.3f}, sink "
                          f"{wr.sink_share:.2f}; load average {wr.load[0]:.1f} -> {wr.load[1]:.1f}; {wr.check}"
                          + (f" (round {k + 1})" if args.wrk_rounds > 1 else "")
                          + ("; a worker got no connection" if case.workers > 1
                             and sorted(wr.processes)[-case.workers] < 0.05 * wr.cpu_share else ""), flush=True)
                wrk_rounds.append(got)
            for case in wrk_cases:  # the median round of each, for the ratios to rotel
                runs = sorted((got[case.name] for got in wrk_rounds), key=lambda r: r.items_per_s)
                results[case.name] = runs[len(runs) // 2]
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
            print(f"{name:{w}} {rotel.items_per_s:>15,.0f} {rotel.items_per_cpu_s:>16,.0f} "
                  f"{rotel.cpu_share:>11.2f}")
        shutil.rmtree(tmp, ignore_errors=True)
    if rotel is not None:
        print("ratio to rotel's pass-through, per CPU-second:")
        for name, r in results.items():
            print(f"  {name:{w - 2}} {r.items_per_cpu_s / rotel.items_per_cpu_s:>8.3f}")
    n = args.workers
    growth = [("traces", f"{n} workers", f"{n} workers, wrk load"), ("logs", f"{n} workers", f"{n} workers, wrk load"),
              ("traces", f"{n} workers, {n} sessions", f"{n} workers, {n} sessions, wrk")]
    for signal, label, case_name in growth:
        one_name = f"{signal} pii -> otlphttp, 1 worker, wrk load"
        many_name = f"{signal} pii -> otlphttp, {case_name}"
        pairs = [(got[one_name], got[many_name]) for got in wrk_rounds if one_name in got and many_name in got]
        if not pairs:
            continue
        ratios = sorted(many.items_per_s / one.items_per_s for one, many in pairs)
        ones, manys = sorted(one.items_per_s for one, _ in pairs), sorted(many.items_per_s for _, many in pairs)
        shares = [r.wrk_share for pair in pairs for r in pair]
        spread = (f" (median of {len(pairs)} rounds; ratios {ratios[0]:.2f}-{ratios[-1]:.2f}, per second "
                  f"{ones[0]:,.0f}-{ones[-1]:,.0f} -> {manys[0]:,.0f}-{manys[-1]:,.0f})" if len(pairs) > 1 else "")
        print(f"{signal}, wrk load: {label} / 1 worker on the wall clock: {ratios[len(ratios) // 2]:.2f}x "
              f"({ones[len(ones) // 2]:,.0f} -> {manys[len(manys) // 2]:,.0f} per second){spread}; "
              f"{os.cpu_count()} CPUs, wrk took {min(shares):.1%}-{max(shares):.1%} of a core")
    if any(isinstance(r, WrkResult) for r in results.values()) and autogroup():
        print("note: this kernel shares CPU time between sessions (sched_autogroup_enabled = 1): the collector's "
              "workers, one session, get one session's share when other sessions keep the cores busy (the load "
              "average above); the growth is capped there, not by wrk (the case with a session per worker shows "
              "what they reach when each gets a share)")
    main_case = results.get(cases[0].name) if cases else None
    if main_case is not None and cases[0].name.startswith("traces pii -> otlphttp, 1"):
        met = "met" if main_case.items_per_cpu_s >= TARGET else "NOT met"
        print(f"target {TARGET:,} spans per CPU-second with pii (1 worker): {met}")
    lost = [name for name, r in results.items() if isinstance(r, WrkResult) and r.check.startswith("MISMATCH")]
    if lost:
        print(f"the sink did not receive what was accepted in: {', '.join(lost)}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
