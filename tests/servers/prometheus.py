"""A real Prometheus (Debian package) for a test: free port, own config and data dir, stopped after.

    with PrometheusServer(tmp_path, scrape_targets=["127.0.0.1:8889"]) as prom:
        prom.wait_for('up{job="otel-collector-exporter"} == 1')
        prom.query("sum(rate(http_requests_total[1m]))")

The remote write receiver is on (``prom.remote_write_url``). ``start()`` / ``stop()`` can also be called by
hand, e.g. to bring the backend up only after the client started (outage tests); the port stays the same.
"""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from tests.servers.processes import ServerProcess, require_binary
from tests.support import free_port

__all__ = ["SCRAPE_JOB", "PrometheusServer"]

SCRAPE_JOB = "otel-collector-exporter"


class PrometheusServer:
    def __init__(self, workdir: Path, *, scrape_targets: Sequence[str] = (), scrape_interval: str = "1s",
                 port: int | None = None, features: Sequence[str] = ()) -> None:
        self.binary = require_binary("prometheus")
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.remote_write_url = f"{self.url}/api/v1/write"
        self.workdir = workdir
        self.data_dir = workdir / "prometheus-data"
        self.config_file = workdir / "prometheus.yml"
        self._write_config(scrape_targets, scrape_interval)
        self.features = list(features)  # --enable-feature=..., e.g. "native-histograms"
        self._process: ServerProcess | None = None

    def _write_config(self, targets: Sequence[str], interval: str) -> None:
        config: dict[str, Any] = {"global": {"scrape_interval": interval, "scrape_timeout": interval}}
        if targets:
            config["scrape_configs"] = [{
                "job_name": SCRAPE_JOB,
                "honor_labels": True,  # keep job/instance from service.name / service.instance.id
                "static_configs": [{"targets": list(targets)}],
            }]
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config_file.write_text(json.dumps(config))  # JSON is YAML

    # --- lifecycle ---------------------------------------------------------------------------------------------

    def start(self) -> PrometheusServer:
        argv = [
            self.binary,
            f"--config.file={self.config_file}",
            f"--storage.tsdb.path={self.data_dir}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--web.enable-remote-write-receiver",
            "--log.level=warn",
            *(f"--enable-feature={feature}" for feature in self.features),
        ]
        self._process = ServerProcess(argv, ready_url=f"{self.url}/-/ready").__enter__()
        return self

    def stop(self) -> None:
        if self._process is not None:
            self._process.__exit__(None, None, None)
            self._process = None

    def output(self) -> str:
        return self._process.output() if self._process is not None else ""

    def __enter__(self) -> PrometheusServer:
        return self.start()

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    # --- HTTP API ----------------------------------------------------------------------------------------------

    def api(self, path: str, **params: str) -> Any:
        url = f"{self.url}{path}?{urllib.parse.urlencode(params)}"
        with urllib.request.urlopen(url, timeout=10) as response:
            body = json.load(response)
        if body.get("status") != "success":
            raise AssertionError(f"{path} {params}: {body}")
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query: the vector's elements, each ``{"metric": {...}, "value": [ts, "v"]}``."""
        data = self.api("/api/v1/query", query=expr)
        result: list[dict[str, Any]] = data["result"]
        return result

    def exemplars(self, expr: str, *, window: float = 3600.0) -> list[dict[str, Any]]:
        """Exemplars of the series matching ``expr`` in the last ``window`` seconds (needs the
        ``exemplar-storage`` feature): ``[{"seriesLabels": {...}, "exemplars": [{"labels", "value", ...}]}]``."""
        now = time.time()
        result: list[dict[str, Any]] = self.api("/api/v1/query_exemplars", query=expr, start=str(now - window),
                                                end=str(now + 60))
        return result

    def values(self, expr: str) -> dict[tuple[tuple[str, str], ...], float]:
        """An instant query as ``{sorted labels: value}``."""
        return {tuple(sorted(r["metric"].items())): float(r["value"][1]) for r in self.query(expr)}

    def wait_for(self, expr: str, until: Callable[[list[dict[str, Any]]], bool] = bool, *,
                 timeout: float = 30.0) -> list[dict[str, Any]]:
        """Poll an instant query until `until(result)` holds (default: non-empty); fail with the last result."""
        deadline = time.monotonic() + timeout
        result: list[dict[str, Any]] = []
        while True:
            result = self.query(expr)
            if until(result):
                return result
            if time.monotonic() > deadline:
                raise AssertionError(f"{expr!r} never satisfied the condition within {timeout}s; last: {result}")
            time.sleep(0.25)
