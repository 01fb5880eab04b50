"""What the health monitor costs the app: ``/health`` per request, and the per-request bookkeeping of the alerts.

In one process, through the app's full ASGI stack (no network, no server), interleaved rounds of:

- ``GET /health`` (answered from the monitor's last run, with a slow database-like and cache-like check
  registered) against ``GET /ping``, an app route that returns a constant and is, like /health, a quiet path
  (neither traced nor logged): the ratio says /health costs what a trivial route costs, whatever the checks do;
- `RequestStats.record` (what the middleware adds per request for the threshold alerts) against a call that
  does nothing.

    .venv/bin/python bench/bench_health.py [--requests 5000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


async def _call(app: Any, path: str) -> int:
    status = 0

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
        "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
        "headers": [(b"host", b"bench")], "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80),
    }
    await app(scope, receive, send)
    return status


async def _rate(app: Any, path: str, requests: int) -> float:
    started = time.perf_counter()
    for _ in range(requests):
        await _call(app, path)
    return requests / (time.perf_counter() - started)


async def _main(requests: int, rounds: int) -> None:
    import dataclasses  # noqa: PLC0415

    from fastapi import FastAPI  # noqa: PLC0415
    from starlette.responses import JSONResponse  # noqa: PLC0415

    from otel_distro import add_health_check  # noqa: PLC0415
    from otel_distro._internal import health_monitor, state  # noqa: PLC0415
    from otel_distro._internal.fastapi_app import instrument_app  # noqa: PLC0415
    from otel_distro._internal.request_stats import RequestStats  # noqa: PLC0415

    async def cache() -> None:
        await asyncio.sleep(0.001)

    def database() -> None:
        time.sleep(0.002)

    settings = state.settings()
    state.set_settings(dataclasses.replace(settings, quiet_paths=(*settings.quiet_paths, "/ping")))
    add_health_check("cache", cache)
    add_health_check("database", database)
    app = FastAPI()

    @app.get("/ping")
    async def ping() -> JSONResponse:
        return JSONResponse({"status": "ok"})

    instrument_app(app)
    monitor = health_monitor.monitor()
    await monitor.acquire()
    assert await _call(app, "/health") == 200 and await _call(app, "/ping") == 200
    ratios, health_rates, ping_rates = [], [], []
    for _ in range(rounds):
        health_rate = await _rate(app, "/health", requests)
        ping_rate = await _rate(app, "/ping", requests)
        health_rates.append(health_rate)
        ping_rates.append(ping_rate)
        ratios.append(health_rate / ping_rate)
    await monitor.release()
    print(f"/health {statistics.median(health_rates):,.0f} req/s ({1e6 / statistics.median(health_rates):.1f} µs), "
          f"/ping {statistics.median(ping_rates):,.0f} req/s ({1e6 / statistics.median(ping_rates):.1f} µs); "
          f"/health / /ping = {statistics.median(ratios):.2f}x (median of {rounds} rounds)")

    stats = RequestStats(slow_after=5.0)

    def nothing(seconds: float, error: bool) -> None:
        return None

    n = 1_000_000
    record_costs, noop_costs = [], []
    for _ in range(rounds):
        started = time.perf_counter()
        for i in range(n):
            stats.record(0.012, i % 50 == 0)
        record_costs.append((time.perf_counter() - started) / n)
        started = time.perf_counter()
        for i in range(n):
            nothing(0.012, i % 50 == 0)
        noop_costs.append((time.perf_counter() - started) / n)
    record, noop = statistics.median(record_costs), statistics.median(noop_costs)
    print(f"RequestStats.record {record * 1e9:.0f} ns per request, an empty call {noop * 1e9:.0f} ns: "
          f"{(record - noop) * 1e9:.0f} ns added per request ({record / noop:.2f}x an empty call)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(_main(args.requests, args.rounds))


if __name__ == "__main__":
    main()
