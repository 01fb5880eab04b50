"""``otel-distro demo``: the collector and the demo app on embedded defaults, some traffic, where to look.

Starts the collector (``otel-distro collector run --config otel-collector.yaml``) when this checkout has one,
else a minimal built-in OTLP receiver that counts what arrives; then the demo app under the real
``opentelemetry-instrument`` (serving the built browser demo ``ui-new/dist`` at ``/ui/``); sends a little traffic;
prints where to look; serves until Ctrl-C, or for ``--duration`` seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import ExitStack
from pathlib import Path
from typing import Any

__all__ = ["main", "send_traffic"]

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
COLLECTOR_CONFIG = ROOT / "otel-collector.yaml"
UI_DIST = ROOT / "ui-new" / "dist"  # the browser demo, served by the demo app at /ui/ once built


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="otel-distro demo", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8000, help="demo app port (default 8000)")
    parser.add_argument("--otlp-port", type=int, default=4318, help="collector OTLP/HTTP port (default 4318)")
    parser.add_argument("--duration", type=float, default=None, help="stop after SECONDS (default: until Ctrl-C)")
    parser.add_argument("--no-collector", action="store_true", help="use the built-in OTLP receiver instead")
    parser.add_argument("--requests", type=int, default=3, help="rounds of demo traffic to send (default 3)")
    parser.add_argument("--workdir", type=Path, default=ROOT / "var" / "demo", help="database and collector files")
    return parser


def _port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait(predicate: Any, timeout: float, process: subprocess.Popen[bytes] | None = None) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        if process is not None and process.poll() is not None:
            return False
        time.sleep(0.1)
    return False


def _stop(process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def _say(text: str) -> None:
    print(f"[demo] {text}", file=sys.stderr, flush=True)


def _request(method: str, url: str, body: dict[str, Any] | None = None, headers: dict[str, str] | None = None) -> int:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 - loopback http only
    request.add_header("Content-Type", "application/json")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback http only
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def send_traffic(base_url: str, rounds: int = 1) -> dict[str, int]:
    """Exercise every demo route ``rounds`` times; returns the count of responses per status code."""
    statuses: dict[str, int] = {}
    calls: list[tuple[str, str, dict[str, Any] | None]] = [
        ("POST", "/auth/login", {"username": "ada", "password": "demo-password"}),
        ("POST", "/auth/login", {"username": "mallory", "password": "wrong"}),
        ("POST", "/chat/messages", {"user": "ada", "text": "hello, is anyone there?"}),
        ("POST", "/images/generate", {"prompt": "a lighthouse at dusk", "size": "512x512"}),
        ("GET", "/items/1", None),
        ("GET", "/items/3", None),
        ("GET", "/items/404", None),
        ("GET", "/fail", None),
        ("GET", "/api/info", None),
    ]
    for round_ in range(rounds):
        for index, (method, path, body) in enumerate(calls):
            status = _request(method, base_url + path, body, {"X-Request-ID": f"demo-{round_}-{index}"})
            statuses[str(status)] = statuses.get(str(status), 0) + 1
    return statuses


def _start_collector(args: argparse.Namespace, stack: ExitStack) -> tuple[str, str]:
    """Start the collector, or the built-in receiver; returns (endpoint, description)."""
    if _port_open(args.otlp_port):
        return f"http://127.0.0.1:{args.otlp_port}", f"something already listens on :{args.otlp_port}; using it"
    if not args.no_collector and COLLECTOR_CONFIG.is_file() and (ROOT / "collector" / "cli.py").is_file():
        workdir: Path = args.workdir / "collector"
        workdir.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "OTELCOL_HTTP_ENDPOINT": f"127.0.0.1:{args.otlp_port}",
            "OTELCOL_FILE_PATH": str(workdir / "otlp.jsonl"),
            "OTELCOL_STORAGE_DIR": str(workdir / "file_storage"),
        }
        if args.otlp_port != 4318:  # a test or second demo: keep every collector port off the defaults
            env["OTELCOL_GRPC_ENDPOINT"] = f"127.0.0.1:{_free_port()}"
            env["OTELCOL_HEALTH_ENDPOINT"] = f"127.0.0.1:{_free_port()}"
            env["OTELCOL_METRICS_ADDRESS"] = f"127.0.0.1:{_free_port()}"
        log = (workdir / "collector.log").open("wb")
        stack.callback(log.close)
        command = [sys.executable, "-m", "otel_distro.cli", "collector", "run", "--config", str(COLLECTOR_CONFIG)]
        # Its own process group: a terminal Ctrl-C reaches the demo and the app, and the collector is stopped only
        # after the app has flushed its last telemetry into it (the exit stack stops the app first).
        collector = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, process_group=0)
        stack.callback(_stop, collector)
        if _wait(lambda: _port_open(args.otlp_port), 30, collector):
            return (
                f"http://127.0.0.1:{args.otlp_port}",
                f"collector (pid {collector.pid}), log {workdir / 'collector.log'}, data {env['OTELCOL_FILE_PATH']}",
            )
        _say(f"collector did not start (see {workdir / 'collector.log'}); using the built-in receiver")
        _stop(collector)
    from otel_distro._internal.otlp_sink import OtlpHttpSink  # noqa: PLC0415

    sink = stack.enter_context(OtlpHttpSink(port=args.otlp_port, keep=False))
    stack.callback(lambda: _say(f"built-in receiver got {sink.counts}"))
    return sink.endpoint, "built-in OTLP receiver (counts only; run the collector to keep the data)"


def _app_command(port: int) -> list[str]:
    instrument = Path(sys.executable).with_name("opentelemetry-instrument")
    launcher = str(instrument) if instrument.exists() else shutil.which("opentelemetry-instrument") or ""
    if not launcher:
        raise SystemExit("otel-distro demo: opentelemetry-instrument not found (pip install otel-distro)")
    return [launcher, sys.executable, "-m", "uvicorn", "demo_app.main:app", "--host", "127.0.0.1", "--port", str(port)]


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        endpoint, collector_text = _start_collector(args, stack)
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(EXAMPLES), *filter(None, [os.environ.get("PYTHONPATH")])]),
            "OTEL_SERVICE_NAME": os.environ.get("OTEL_SERVICE_NAME", "demo-app"),
            # Explicit, in case another distro (e.g. upstream opentelemetry-distro) is installed beside ours.
            "OTEL_PYTHON_DISTRO": "otel_distro",
            "OTEL_PYTHON_CONFIGURATOR": "otel_distro",
            "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
            "OTEL_METRIC_EXPORT_INTERVAL": os.environ.get("OTEL_METRIC_EXPORT_INTERVAL", "5000"),
            "OTEL_DISTRO_ENVIRONMENT": os.environ.get("OTEL_DISTRO_ENVIRONMENT", "demo"),
            "DATABASE_URL": os.environ.get("DATABASE_URL", f"sqlite:///{args.workdir / 'demo_app.db'}"),
        }
        app = subprocess.Popen(_app_command(args.port), cwd=args.workdir, env=env)
        stack.callback(_stop, app)
        base = f"http://127.0.0.1:{args.port}"
        if not _wait(lambda: _health_ok(base), 60, app):
            _say("the demo app did not become healthy; its output is above")
            return 1
        statuses = send_traffic(base, args.requests)
        _say(f"sent demo traffic: responses by status {statuses}")
        for line in (
            f"app            {base}  (routes: POST /auth/login, /chat/messages, /images/generate; GET /items/1, /fail)",
            f"metrics        {base}/metrics   health {base}/health/detailed",
            f"browser demo   {base}/ui/" + ("" if (UI_DIST / "index.html").is_file()
                                             else "  (not built: cd ui-new && npm ci && npm run build)"),
            f"telemetry      OTLP/HTTP to {endpoint}: {collector_text}",
            "logs           the JSON lines above: every request line carries trace_id, span_id and request_id",
            f"login          user ada, password demo-password   (workdir {args.workdir})",
            "stop           Ctrl-C" if args.duration is None else f"stopping in {args.duration:g}s",
        ):
            _say(line)
        try:
            if args.duration is None:
                app.wait()
            else:
                app.wait(args.duration)
        except subprocess.TimeoutExpired:
            pass
        except KeyboardInterrupt:
            _say("stopping")
        if app.poll() is not None and args.duration is not None:
            _say(f"the demo app exited early with code {app.returncode}")
            return 1
    return 0


def _health_ok(base: str) -> bool:
    try:
        return _request("GET", base + "/health") == 200
    except OSError:
        return False
