"""prometheus.yml and the alert rules are valid, every alert is documented and unit-tested with promtool (fires at
its threshold, silent just under it, resolves), and the seed's thresholds are the defaults."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.servers.processes import require_binary
from tests.support import ROOT

RULE_FILES = sorted((ROOT / "prometheus" / "rules").glob("*.rules.yml"))
TEST_FILES = sorted((ROOT / "prometheus" / "tests").glob("*.test.yml"))


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([require_binary("promtool"), *args], cwd=ROOT, capture_output=True, text=True, check=False)


def _alerts() -> dict[str, dict[str, Any]]:
    return {rule["alert"]: rule for path in RULE_FILES for group in yaml.safe_load(path.read_text())["groups"]
            for rule in group["rules"] if "alert" in rule}


def test_prometheus_config_is_valid_and_finds_every_rule_file() -> None:
    out = _promtool("check", "config", "prometheus.yml")
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"{len(RULE_FILES)} rule files found" in out.stdout + out.stderr
    assert {p.name for p in RULE_FILES} == {"app.rules.yml", "host.rules.yml", "collector.rules.yml",
                                            "alerting.rules.yml"}


def test_prometheus_scrapes_every_15s_and_documents_the_30_day_retention_flag() -> None:
    text = (ROOT / "prometheus.yml").read_text()
    config = yaml.safe_load(text)
    assert config["global"]["scrape_interval"] == "15s"
    assert "--storage.tsdb.retention.time=30d" in text


def test_the_apps_health_is_probed_through_the_blackbox_exporter() -> None:
    jobs = {job["job_name"]: job for job in yaml.safe_load((ROOT / "prometheus.yml").read_text())["scrape_configs"]}
    probe = jobs["app-health"]
    assert probe["metrics_path"] == "/probe"
    assert probe["params"]["module"] == ["http_2xx"]
    assert all(t.endswith("/health") for sc in probe["static_configs"] for t in sc["targets"])
    modules = yaml.safe_load((ROOT / "prometheus" / "blackbox.yml").read_text())["modules"]
    assert modules["http_2xx"]["prober"] == "http"


def test_the_blackbox_config_is_valid() -> None:
    exporter = require_binary("prometheus-blackbox-exporter")
    out = subprocess.run([exporter, f"--config.file={ROOT / 'prometheus' / 'blackbox.yml'}", "--config.check"],
                         capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "deprecated" not in out.stdout + out.stderr


def test_rule_files_are_valid() -> None:
    out = _promtool("check", "rules", *(str(p.relative_to(ROOT)) for p in RULE_FILES))
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.parametrize("name", sorted(_alerts()))
def test_every_alert_has_for_severity_summary_description_and_a_runbook_section(name: str) -> None:
    rule = _alerts()[name]
    assert rule.get("for"), f"{name}: no for:"
    assert rule["labels"]["severity"] in {"warning", "critical", "page"}
    assert {"summary", "description", "runbook_url"} <= set(rule["annotations"])
    anchor = rule["annotations"]["runbook_url"].rsplit("#", 1)[1]
    runbooks = (ROOT / "prometheus" / "RUNBOOKS.md").read_text()
    assert f"## {name}\n" in runbooks and anchor == name.lower()


def test_the_seed_thresholds_are_the_defaults() -> None:
    alerts = _alerts()
    assert "> 0.05" in alerts["HighErrorRate"]["expr"]
    assert alerts["HighLatencyP95"]["expr"].endswith("> 5")
    assert alerts["DiskSpaceLow"]["expr"].endswith("> 0.8")
    assert alerts["HostMemoryHigh"]["expr"].endswith("> 0.9")
    assert alerts["ApiEndpointDown"]["for"] == "5m"


def _tested(path: Path) -> dict[str, list[list[Any]]]:
    out: dict[str, list[list[Any]]] = {}
    for test in yaml.safe_load(path.read_text())["tests"]:
        for case in test.get("alert_rule_test", []):
            out.setdefault(case["alertname"], []).append(case.get("exp_alerts") or [])
    return out


@pytest.mark.parametrize("name", sorted(_alerts()))
def test_every_alert_has_a_unit_test_where_it_fires_and_one_where_it_does_not(name: str) -> None:
    cases = [c for path in TEST_FILES for c in _tested(path).get(name, [])]
    assert any(cases), f"{name}: no promtool test where it fires"
    assert any(not c for c in cases), f"{name}: no promtool test where it stays silent or resolves"


def test_rule_unit_tests_pass() -> None:
    out = _promtool("test", "rules", *(str(p.relative_to(ROOT)) for p in TEST_FILES))
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.count("SUCCESS") == len(TEST_FILES)


def test_a_wrong_expectation_fails(tmp_path: Path) -> None:
    """The unit tests can fail: the same input with a wrong expected severity is reported."""
    bad = tmp_path / "bad.test.yml"
    bad.write_text(
        f"rule_files: ['{ROOT / 'prometheus/rules/alerting.rules.yml'}']\n"
        "evaluation_interval: 1m\n"
        "tests:\n"
        "  - interval: 1m\n"
        "    input_series:\n"
        "      - series: 'up{job=\"x\", instance=\"y\"}'\n"
        "        values: '0 0 0 0 0 0 0 0'\n"
        "    alert_rule_test:\n"
        "      - eval_time: 7m\n"
        "        alertname: TargetDown\n"
        "        exp_alerts:\n"
        "          - exp_labels: {severity: warning, job: x, instance: y}\n"
    )
    out = _promtool("test", "rules", str(bad))
    assert out.returncode != 0
    assert "FAILED" in out.stdout + out.stderr
    assert re.search(r"severity=\"critical\"", out.stdout + out.stderr)


def test_the_host_rules_use_the_names_the_collector_gives_the_host_metrics_apps_send() -> None:
    """What the distro emits (its host metrics and the system-metrics instrumentation's memory utilization),
    encoded as OTLP and named as the collector's prometheus exporter names it, is what host.rules.yml queries."""
    from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics  # noqa: PLC0415
    from opentelemetry.instrumentation.system_metrics import SystemMetricsInstrumentor  # noqa: PLC0415
    from opentelemetry.sdk.metrics import MeterProvider  # noqa: PLC0415
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader  # noqa: PLC0415

    from collector.exporters._prometheus_translate import (  # noqa: PLC0415
        MetricInfo,
        label_name,
        metric_info,
        metric_name,
    )
    from otel_distro._internal import host_metrics  # noqa: PLC0415
    from otel_distro.distro import SYSTEM_METRICS  # noqa: PLC0415

    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    host_metrics.install(provider)
    instrumentor = SystemMetricsInstrumentor(config={"system.memory.utilization":
                                                     SYSTEM_METRICS["system.memory.utilization"]})
    instrumentor.instrument(meter_provider=provider)
    try:
        data = reader.get_metrics_data()
    finally:
        instrumentor.uninstrument()
        provider.shutdown()
    assert data is not None
    series: dict[str, set[str]] = {}
    for rm in encode_metrics(data).resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                info = metric_info(metric)
                assert isinstance(info, MetricInfo)
                points = getattr(metric, metric.WhichOneof("data")).data_points
                series[metric_name(info.name, info.unit, info.kind)] = {
                    label_name(kv.key) for p in points for kv in p.attributes}
    host_rules = (ROOT / "prometheus" / "rules" / "host.rules.yml").read_text()
    assert "system_filesystem_mountpoint" in series["system_filesystem_utilization_ratio"]
    assert "state" in series["system_memory_utilization_ratio"]
    assert "process_memory_utilization_ratio" in series
    for name in ("system_filesystem_utilization_ratio", "system_memory_utilization_ratio",
                 "process_memory_utilization_ratio"):
        assert name in host_rules
