"""Every dashboard query returns data. PromQL: run against a real Prometheus scraping a real collector that
receives the app's metrics (the SDK's instruments with the contract names, the real system-metrics
instrumentation) and exposes its own; each query must return series, and every ``{{label}}`` of its legend
must be a label of them. Elasticsearch: each panel's query is built the way Grafana's Elasticsearch data source
builds it and sent to the stand-in's ``_search`` over error logs the real exporter wrote."""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from collector.exporters.elasticsearch import Config
from tests.collector.exporters.elasticsearch._backends import export
from tests.collector.exporters.elasticsearch._data import log_batch
from tests.grafana._telemetry import collector, emit
from tests.servers.elasticsearch import ElasticsearchServer
from tests.servers.prometheus import PrometheusServer
from tests.support import ROOT

DASHBOARDS = {p.name: json.loads(p.read_text()) for p in sorted((ROOT / "grafana" / "dashboards").glob("*.json"))}
_BUILTINS = {"$__rate_interval": "30s", "$__interval": "15s", "$__range": "1h"}
_VAR_RE = re.compile(r"\$(\w+)")


def _panels(kind: str) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(where, dashboard, target) of every query target on a data source of `kind`."""
    out = []
    for name, dash in DASHBOARDS.items():
        for panel in dash["panels"]:
            for target in panel.get("targets", []):
                source = target.get("datasource") or panel["datasource"]
                if source["type"] == kind:
                    out.append((f"{name}: {panel['title']} [{target['refId']}]", dash, {**target, "panel": panel}))
    return out


def _variables(dash: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {v["name"]: v for v in dash.get("templating", {}).get("list", [])}


def _substitute(text: str, values: dict[str, str]) -> str:
    for builtin, value in _BUILTINS.items():
        text = text.replace(builtin, value)
    return _VAR_RE.sub(lambda m: values.get(m.group(1), m.group(0)), text)


def test_every_dashboard_has_a_query_on_each_seed_topic() -> None:
    text = json.dumps(DASHBOARDS)
    for needle in ("histogram_quantile(0.5,", "histogram_quantile(0.95,", "histogram_quantile(0.99,",
                   'http_response_status_code=~\\"5..\\"', "system_cpu_utilization_ratio",
                   "system_memory_utilization_ratio", "system_filesystem_utilization_ratio",
                   "app_health_check_status", "app_health_check_duration_seconds", "app_analytics_events_total",
                   "otelcol_exporter_send_failed_", "attributes.exception.type", "attributes.exception.message"):
        assert needle in text, needle
    assert len({d["uid"] for d in DASHBOARDS.values()}) == len(DASHBOARDS)


# -- PromQL against a real Prometheus ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusServer]:
    workdir: Path = tmp_path_factory.mktemp("dashboards")
    with collector(workdir) as target, emit(target), PrometheusServer(workdir / "prometheus",
                          scrape_targets=[target.prometheus_target, target.telemetry_target]) as prom:
        prom.wait_for("rate(http_server_request_duration_seconds_count[30s]) > 0", timeout=60)
        prom.wait_for('rate(otelcol_receiver_accepted_metric_points_total[30s]) > 0', timeout=60)
        yield prom


def _label_values(prom: PrometheusServer, query: str) -> list[str]:
    """A ``label_values(selector, label)`` variable query, as Grafana's Prometheus data source runs it."""
    m = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", query.strip())
    assert m is not None, f"not a label_values() query: {query}"
    selector, label = m.groups()
    now = time.time()
    try:
        values: list[str] = prom.api(f"/api/v1/label/{urllib.parse.quote(label)}/values", **{
            "match[]": selector, "start": str(int(now - 3600)), "end": str(int(now))})
    except urllib.error.HTTPError as exc:
        raise AssertionError(f"{query}: {exc.read().decode()}") from None
    return values


@pytest.mark.slow
@pytest.mark.parametrize("where, dash, target", _panels("prometheus"), ids=lambda v: v if isinstance(v, str) else "")
def test_every_promql_query_returns_series(prometheus: PrometheusServer, where: str, dash: dict[str, Any],
                                           target: dict[str, Any]) -> None:
    variables = _variables(dash)
    all_values = {name: v.get("allValue", ".*") for name, v in variables.items()}
    concrete: dict[str, str] = {}
    for name, v in variables.items():  # each variable's own query, with the ones before it at All
        found = _label_values(prometheus, _substitute(v["query"], all_values))
        assert found, f"{where}: variable ${name} ({v['query']}) has no values"
        concrete[name] = re.escape(found[0]).replace("\\", "\\\\")  # as Grafana escapes a regex value
    legend_labels = set(re.findall(r"\{\{(\w+)\}\}", target.get("legendFormat", "")))
    for values in (all_values, concrete):
        expr = _substitute(target["expr"], values)
        assert "$" not in expr.replace("$__", ""), f"{where}: unsubstituted variable in {expr}"
        try:
            result = prometheus.wait_for(expr, timeout=45)
        except urllib.error.HTTPError as exc:
            raise AssertionError(f"{where}: {expr}: {exc.read().decode()}") from None
        for series in result:
            missing = legend_labels - set(series["metric"])
            assert not missing, f"{where}: legend names {missing}, which the series lack: {series['metric']}"


# -- Elasticsearch queries against the stand-in ------------------------------------------------------------------

TRACES = {"ValueError": "5b8efff798038103d269b633813fc60c", "KeyError": "0af7651916cd43dd8448eb211c80319c"}


@pytest.fixture(scope="module")
def logs() -> Iterator[ElasticsearchServer]:
    """Error logs (and one info log) written by the real elasticsearch exporter, as the app's would be."""
    with ElasticsearchServer() as es:
        records = [
            {"body": "image generation failed", "exception.type": "ValueError",
             "exception.message": "prompt is empty", "severity": 17, "trace": TRACES["ValueError"]},
            {"body": "image generation failed", "exception.type": "ValueError",
             "exception.message": "prompt is empty", "severity": 17, "trace": TRACES["ValueError"]},
            {"body": "image generation failed", "exception.type": "ValueError",
             "exception.message": "prompt is too long", "severity": 17, "trace": TRACES["ValueError"]},
            {"body": "login failed", "exception.type": "KeyError", "exception.message": "'user'",
             "severity": 21, "trace": TRACES["KeyError"]},
            {"body": "login ok", "severity": 9, "trace": TRACES["KeyError"]},
        ]
        batch = log_batch([{k: v for k, v in r.items() if k not in ("severity", "trace")} for r in records],
                          resource={"service.name": "demo-app"})
        now = time.time_ns()
        for i, record in enumerate(batch.resources[0].scope_logs[0].log_records):
            record.severity_number = records[i]["severity"]  # type: ignore[assignment]
            record.severity_text = "ERROR" if records[i]["severity"] >= 17 else "INFO"
            record.time_unix_nano = now - (len(records) - i) * 1_000_000_000
            record.trace_id = bytes.fromhex(str(records[i]["trace"]))
        config = Config.model_validate({"endpoints": [es.url], "flush": {"interval": "0s"}})
        assert export(config, [batch]).outcomes == [None]
        yield es


def _es_index() -> str:
    """The index pattern of the provisioned Elasticsearch data source (where Grafana sends the panels' queries)."""
    sources = yaml.safe_load((ROOT / "grafana" / "provisioning" / "datasources" / "datasources.yml").read_text())
    [index] = [d["jsonData"]["index"] for d in sources["datasources"] if d["type"] == "elasticsearch"]
    return str(index)


def _grafana_body(target: dict[str, Any], service: str) -> dict[str, Any]:
    """The _search body Grafana's Elasticsearch data source sends for a panel target (its query builder: a
    time-range filter and the Lucene query, bucket aggregations nested in order, raw_data as sorted hits)."""
    now_ms = int(time.time() * 1000)
    lucene = _substitute(target["query"], {"service": service})
    query = {"bool": {"filter": [
        {"range": {target["timeField"]: {"gte": now_ms - 3_600_000, "lte": now_ms, "format": "epoch_millis"}}},
        {"query_string": {"analyze_wildcard": True, "query": lucene}},
    ]}}
    metric = target["metrics"][0]
    if metric["type"] == "raw_data":
        return {"size": int(metric["settings"]["size"]), "query": query, "sort": [
            {target["timeField"]: {"order": "desc", "unmapped_type": "boolean"}}, {"_doc": {"order": "desc"}}]}
    aggs: dict[str, Any] = {}
    node = aggs
    for bucket in target["bucketAggs"]:
        if bucket["type"] == "terms":
            settings = bucket["settings"]
            spec: dict[str, Any] = {"terms": {"field": bucket["field"], "size": int(settings["size"]),
                                              "order": {settings["orderBy"]: settings["order"]},
                                              "min_doc_count": int(settings["min_doc_count"])}}
        else:
            spec = {"date_histogram": {"field": bucket["field"], "fixed_interval": "1m", "min_doc_count": 0,
                                       "format": "epoch_millis"}}
        node[bucket["id"]] = spec
        node = spec.setdefault("aggs", {})
    return {"size": 0, "query": query, "aggs": aggs}


def _leaf_buckets(aggs: dict[str, Any], path: tuple[Any, ...] = ()) -> list[tuple[tuple[Any, ...], int]]:
    out = []
    for value in aggs.values():
        for bucket in value["buckets"]:
            sub = {k: v for k, v in bucket.items() if isinstance(v, dict) and "buckets" in v}
            key = (*path, bucket["key"])
            out += _leaf_buckets(sub, key) if sub else [(key, bucket["doc_count"])]
    return out


@pytest.mark.parametrize("service", ["*", "demo-app"])
@pytest.mark.parametrize("where, dash, target", _panels("elasticsearch"), ids=lambda v: v if isinstance(v, str) else "")
def test_every_elasticsearch_query_returns_the_error_logs(logs: ElasticsearchServer, service: str, where: str,
                                                          dash: dict[str, Any], target: dict[str, Any]) -> None:
    status, answer = logs.call("POST", f"/{_es_index()}/_search", _grafana_body(target, service))
    assert status == 200, f"{where}: {answer}"
    if target["metrics"][0]["type"] == "raw_data":
        hits = [h["_source"] for h in answer["hits"]["hits"]]
        assert len(hits) == 4 and all(h["severity_number"] >= 17 for h in hits), where  # the info log is out
        stamps = [h["@timestamp"] for h in hits]
        assert stamps == sorted(stamps, reverse=True), f"{where}: latest first"
        linked = {o["matcher"]["options"] for o in target["panel"]["fieldConfig"]["overrides"]
                  if any(p["id"] == "links" for p in o["properties"])}
        assert linked == {"trace_id"} and {h["trace_id"] for h in hits} == set(TRACES.values())
        return
    leaves = _leaf_buckets(answer["aggregations"])
    if target["bucketAggs"][-1]["type"] == "date_histogram":
        assert sum(n for _, n in leaves) == 4, where
        return
    assert leaves == [(("ValueError", "prompt is empty"), 2), (("ValueError", "prompt is too long"), 1),
                      (("KeyError", "'user'"), 1)], where


def test_the_trace_link_opens_the_provisioned_jaeger_datasource() -> None:
    sources = yaml.safe_load((ROOT / "grafana" / "provisioning" / "datasources" / "datasources.yml").read_text())
    jaeger = {d["uid"] for d in sources["datasources"] if d["type"] == "jaeger"}
    links = [link for _, _, target in _panels("elasticsearch")
             for o in target["panel"]["fieldConfig"]["overrides"] for p in o["properties"] if p["id"] == "links"
             for link in p["value"]]
    assert links and all(link["internal"]["datasourceUid"] in jaeger for link in links)
    assert all(link["internal"]["query"]["query"] == "${__value.raw}" for link in links)


def test_the_service_variable_lists_the_services_that_logged(logs: ElasticsearchServer) -> None:
    variable = _variables(DASHBOARDS["errors.json"])["service"]
    spec = json.loads(variable["query"])
    assert spec["find"] == "terms"
    status, answer = logs.call("POST", f"/{_es_index()}/_search", {"size": 0, "aggs": {"v": {"terms": {
        "field": spec["field"], "size": 500, "order": {"_key": "asc"}}}}})
    assert status == 200 and [b["key"] for b in answer["aggregations"]["v"]["buckets"]] == ["demo-app"]
