"""Grafana provisioning is consistent, and every dashboard query is valid PromQL for a real Prometheus."""

from __future__ import annotations

import json
import re
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.servers.processes import ServerProcess, require_binary
from tests.support import ROOT, free_port

GRAFANA = ROOT / "grafana"


def _datasources() -> dict[str, dict[str, Any]]:
    doc = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "datasources.yml").read_text())
    return {d["uid"]: d for d in doc["datasources"]}


def _dashboards() -> dict[str, dict[str, Any]]:
    return {p.name: json.loads(p.read_text()) for p in sorted((GRAFANA / "dashboards").glob("*.json"))}


def _exprs() -> list[tuple[str, str]]:
    return [
        (f"{name}: {panel['title']}", target["expr"])
        for name, dash in _dashboards().items()
        for panel in dash["panels"]
        for target in panel["targets"]
        if "expr" in target  # PromQL; Elasticsearch targets are run by test_dashboards.py
    ]


def test_datasources_link_traces_and_logs_both_ways() -> None:
    ds = _datasources()
    assert {d["type"] for d in ds.values()} == {"prometheus", "elasticsearch", "jaeger"}
    jaeger = next(d for d in ds.values() if d["type"] == "jaeger")
    logs = next(d for d in ds.values() if d["type"] == "elasticsearch")
    assert jaeger["jsonData"]["tracesToLogsV2"]["datasourceUid"] == logs["uid"]
    assert "trace_id" in jaeger["jsonData"]["tracesToLogsV2"]["query"]
    assert {link["datasourceUid"] for link in logs["jsonData"]["dataLinks"]} == {jaeger["uid"]}


def test_dashboards_reference_provisioned_datasources_and_have_unique_ids() -> None:
    ds = _datasources()
    dashboards = _dashboards()
    assert len({d["uid"] for d in dashboards.values()}) == len(dashboards) >= 2
    for name, dash in dashboards.items():
        ids = [p["id"] for p in dash["panels"]]
        assert len(ids) == len(set(ids)), name
        for panel in dash["panels"]:
            assert panel["datasource"]["uid"] in ds, f"{name}: {panel['title']}"


def test_dashboard_provider_path_is_where_compose_mounts_the_dashboards() -> None:
    provider = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "dashboards.yml").read_text())
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    mounts = compose["services"]["grafana"]["volumes"]
    assert f"./grafana/dashboards:{provider['providers'][0]['options']['path']}:ro" in mounts


@pytest.mark.slow
def test_every_dashboard_query_is_valid_promql(tmp_path: Path) -> None:
    port = free_port()
    (tmp_path / "prometheus.yml").write_text("global: {}\n")
    argv = [
        require_binary("prometheus"), f"--config.file={tmp_path / 'prometheus.yml'}",
        f"--storage.tsdb.path={tmp_path / 'data'}", f"--web.listen-address=127.0.0.1:{port}",
    ]
    with ServerProcess(argv, f"http://127.0.0.1:{port}/-/ready"):
        for where, expr in _exprs():
            query = re.sub(r"\$__rate_interval|\$__interval|\$__range", "5m", expr)
            query = re.sub(r"\$\w+", ".*", query)
            url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": query})
            try:
                with urllib.request.urlopen(url, timeout=10) as r:
                    status = json.loads(r.read())["status"]
            except urllib.error.HTTPError as e:
                pytest.fail(f"{where}: {e.read().decode()}")
            assert status == "success", where
