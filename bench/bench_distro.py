"""Requests per second of the demo app's JSON route: uninstrumented vs vanilla OpenTelemetry vs this distro.

All three run the same app under the same uvicorn (one worker, its defaults) in one run, rounds interleaved
(A B C A B C ...) so machine noise spreads evenly; the ratios are against the uninstrumented median.

- uninstrumented: ``uvicorn demo_app.main:app``
- vanilla:        ``opentelemetry-instrument`` with the upstream ``opentelemetry-distro`` (selected with
                  OTEL_PYTHON_DISTRO=distro / OTEL_PYTHON_CONFIGURATOR=configurator; ``pip install
                  '.[bench]'``), all three signals over OTLP/HTTP to the receiver
- distro:         ``opentelemetry-instrument`` with this distro, all signals on, OTLP/HTTP to the receiver
- distro-noscrub: the same with ``OTEL_DISTRO_SCRUB=false`` (what PII scrubbing at the source costs)

The OTLP receiver is a separate process (`otel_distro._internal.otlp_sink`) that answers every export; by
default it reads and counts the bytes without decoding them, because in production the collector's CPU is
not the app's (``--decode`` makes it decode too, on the same two cores). The load generator is ``wrk`` (one
thread, C: it takes the least CPU from the app on a shared machine), installed from Debian when missing and
running as root; else a minimal asyncio HTTP/1.1 keep-alive client (``--load asyncio`` forces it).

Two throughput ratios are printed per configuration: the ratio of medians, and the median of each round's ratio
to the uninstrumented run of the same round (the runs of one round are seconds apart, so this one is less moved
by a shared machine slowing down or speeding up between rounds). It also prints each server's CPU time per
request during its load (every thread, from ``/proc``: what the app pays for its telemetry, whatever the
machine's speed does to wall-clock rates) and its resident memory right after the load, both against the
uninstrumented server's.

    python bench/bench_distro.py [--seconds 6] [--rounds 5] [--connections 16] [--load auto|wrk|asyncio]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
ROUTE = "/api/info"

SINK_SCRIPT = """
import sys, time
from otel_distro._internal.otlp_sink import OtlpHttpSink
sink = OtlpHttpSink(port=int(sys.argv[1]), keep=False, decode=sys.argv[2] == "decode").start()
while True:
    time.sleep(3600)
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on :{port} after {timeout}s")


def has_upstream_distro() -> bool:
    try:
        import opentelemetry.distro  # noqa: F401, PLC0415
    except ImportError:
        return False
    return True


def configurations(endpoint: str, db_url: str) -> dict[str, tuple[list[str], dict[str, str]]]:
    base_env = {
        **os.environ,
        "PYTHONPATH": str(ROOT / "examples"),
        "DATABASE_URL": db_url,
        "OTEL_SERVICE_NAME": "bench-demo",
        "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
    }
    uvicorn = [sys.executable, "-m", "uvicorn", "demo_app.main:app", "--host", "127.0.0.1"]
    instrument = [str(BIN / "opentelemetry-instrument")]
    configs: dict[str, tuple[list[str], dict[str, str]]] = {"uninstrumented": (uvicorn, base_env)}
    if has_upstream_distro():
        configs["vanilla"] = (
            instrument + uvicorn,
            {
                **base_env,
                "OTEL_PYTHON_DISTRO": "distro",
                "OTEL_PYTHON_CONFIGURATOR": "configurator",
                "OTEL_TRACES_EXPORTER": "otlp",
                "OTEL_METRICS_EXPORTER": "otlp",
                "OTEL_LOGS_EXPORTER": "otlp",
            },
        )
    else:
        print("note: opentelemetry-distro is not installed (pip install '.[bench]'): no vanilla baseline")
    ours = {**base_env, "OTEL_PYTHON_DISTRO": "otel_distro", "OTEL_PYTHON_CONFIGURATOR": "otel_distro"}
    configs["distro"] = (instrument + uvicorn, ours)
    # The same with PII scrubbing off, to show what the scrubbing engine costs per request.
    configs["distro-noscrub"] = (instrument + uvicorn, {**ours, "OTEL_DISTRO_SCRUB": "false"})
    return configs


async def _worker(port: int, deadline: float, counts: list[int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    request = f"GET {ROUTE} HTTP/1.1\r\nHost: bench\r\n\r\n".encode()
    try:
        while time.monotonic() < deadline:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            if length:
                await reader.readexactly(length)
            if not head.startswith(b"HTTP/1.1 200"):
                raise RuntimeError(f"unexpected response {head[:60]!r}")
            counts[0] += 1
    finally:
        writer.close()


async def load(port: int, seconds: float, connections: int) -> float:
    counts = [0]
    started = time.monotonic()
    await asyncio.gather(*(_worker(port, started + seconds, counts) for _ in range(connections)))
    return counts[0] / (time.monotonic() - started)


def wrk_path(mode: str) -> str | None:
    """The wrk binary for ``mode`` (auto: installed from Debian when missing and root), or None for asyncio."""
    if mode == "asyncio":
        return None
    found = shutil.which("wrk")
    if found is None and hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get"):
        print("installing wrk (apt-get install wrk) ...", flush=True)
        subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=False, capture_output=True)
        found = shutil.which("wrk")
    if found is None and mode == "wrk":
        raise SystemExit("wrk is not installed (apt-get install wrk), or use --load asyncio")
    return found


def load_wrk(wrk: str, port: int, seconds: float, connections: int) -> tuple[float, int]:
    """Requests per second, and requests completed."""
    result = subprocess.run(
        [wrk, "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", f"http://127.0.0.1:{port}{ROUTE}"],
        capture_output=True,
        text=True,
        check=True,
    )
    if re.search(r"Non-2xx or 3xx responses|Socket errors", result.stdout):
        raise RuntimeError(f"errors under load:\n{result.stdout}")
    found = re.search(r"Requests/sec:\s*([0-9.]+)", result.stdout)
    total = re.search(r"(\d+) requests in", result.stdout)
    if found is None or total is None:
        raise RuntimeError(f"cannot read wrk's output:\n{result.stdout}")
    return float(found.group(1)), int(total.group(1))


def cpu_seconds(pid: int) -> float:
    """CPU time ``pid`` has used, all its threads, user and system (Linux ``/proc``), or NaN."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime
    except (OSError, IndexError, ValueError):
        return float("nan")


def rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` in MB (Linux ``/proc``), or NaN where that cannot be read."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def measure(
    command: list[str], env: dict[str, str], seconds: float, connections: int, wrk: str | None
) -> tuple[float, float, float]:
    """Requests per second under load, the server's CPU time per request during it (µs, every thread), and its
    resident memory right after it (MB)."""
    port = free_port()
    process = subprocess.Popen(
        [*command, "--port", str(port)], env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_port(port)
        # opentelemetry-instrument execs the server in its own process, so this pid is the server's.
        if wrk is not None:
            load_wrk(wrk, port, 1.5, connections)  # warm-up
            before = cpu_seconds(process.pid)
            rate, requests = load_wrk(wrk, port, seconds, connections)
        else:
            asyncio.run(load(port, 1.5, connections))  # warm-up
            before = cpu_seconds(process.pid)
            started = time.monotonic()
            rate = asyncio.run(load(port, seconds, connections))
            requests = round(rate * (time.monotonic() - started))
        cpu_us = (cpu_seconds(process.pid) - before) / max(requests, 1) * 1e6
        return rate, cpu_us, rss_mb(process.pid)
    finally:
        process.terminate()
        process.wait(20)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument(
        "--decode", action="store_true", help="make the receiver decode every request (its CPU then competes too)"
    )
    parser.add_argument(
        "--only", default="", help="comma-separated configurations to run (uninstrumented is always kept)"
    )
    parser.add_argument("--load", choices=["auto", "wrk", "asyncio"], default="auto", help="load generator")
    args = parser.parse_args()
    wrk = wrk_path(args.load)

    sink_port = free_port()
    mode = "decode" if args.decode else "count"
    sink = subprocess.Popen([sys.executable, "-c", SINK_SCRIPT, str(sink_port), mode], cwd=ROOT)
    db_path = ROOT / "var" / "bench" / "demo.db"
    db_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        wait_port(sink_port)
        configs = configurations(f"http://127.0.0.1:{sink_port}", f"sqlite:///{db_path}")
        if args.only:
            wanted = {"uninstrumented", *args.only.split(",")}
            configs = {name: config for name, config in configs.items() if name in wanted}
        results: dict[str, list[float]] = {name: [] for name in configs}
        memory: dict[str, list[float]] = {name: [] for name in configs}
        cpu: dict[str, list[float]] = {name: [] for name in configs}
        for round_ in range(args.rounds):
            for name, (command, env) in configs.items():
                rate, cpu_us, rss = measure(command, env, args.seconds, args.connections, wrk)
                results[name].append(rate)
                cpu[name].append(cpu_us)
                memory[name].append(rss)
                print(
                    f"round {round_ + 1}: {name:<15} {rate:8.0f} req/s  {cpu_us:6.1f} µs CPU/req"
                    f"  {rss:6.1f} MB resident",
                    flush=True,
                )
    finally:
        sink.terminate()
        sink.wait(10)

    medians = {name: statistics.median(rates) for name, rates in results.items()}
    base = medians["uninstrumented"]
    paired = {
        name: statistics.median(rate / results["uninstrumented"][i] for i, rate in enumerate(rates))
        for name, rates in results.items()
    }
    print(
        f"\nGET {ROUTE}, {args.connections} connections, {args.seconds:g}s x {args.rounds} rounds (median req/s),"
        f" receiver {'decoding' if args.decode else 'counting bytes'}, load from {'wrk' if wrk else 'asyncio'}"
    )
    for name, rate in medians.items():
        print(
            f"  {name:<15} {rate:8.0f} req/s   {rate / base:5.2f}x uninstrumented"
            f"   (median of per-round ratios {paired[name]:.2f}x)"
        )
    base_cpu = statistics.median(cpu["uninstrumented"])
    print("server CPU time per request, all threads (median):")
    for name, costs in cpu.items():
        cost = statistics.median(costs)
        print(f"  {name:<15} {cost:6.1f} µs   {base_cpu / cost:5.2f}x uninstrumented requests per CPU-second")
    base_rss = statistics.median(memory["uninstrumented"])
    print("resident memory after the load (median):")
    for name, sizes in memory.items():
        size = statistics.median(sizes)
        print(f"  {name:<15} {size:6.1f} MB   {size / base_rss:5.2f}x uninstrumented   (+{size - base_rss:.1f} MB)")
    if "vanilla" in medians:
        print(f"ratio vanilla/uninstrumented = {medians['vanilla'] / base:.2f}  (per round {paired['vanilla']:.2f})")
    if "distro" in medians:
        print(
            f"ratio distro/uninstrumented  = {medians['distro'] / base:.2f}  (per round {paired['distro']:.2f};"
            " target >= 0.70)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
