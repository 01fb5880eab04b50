"""prometheus.yml and the alert rules are valid, and the rules fire when they should (promtool unit tests)."""

from __future__ import annotations

import subprocess

from tests.servers.processes import require_binary
from tests.support import ROOT


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([require_binary("promtool"), *args], cwd=ROOT, capture_output=True, text=True, check=False)


def test_prometheus_config_is_valid_and_finds_every_rule_file() -> None:
    out = _promtool("check", "config", "prometheus.yml")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "3 rule files found" in out.stdout + out.stderr


def test_rule_files_are_valid() -> None:
    files = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "prometheus" / "rules").glob("*.rules.yml"))
    assert len(files) == 3
    out = _promtool("check", "rules", *files)
    assert out.returncode == 0, out.stdout + out.stderr


def test_rule_unit_tests_pass() -> None:
    """Error rate, latency, target down, collector failures, queue fill, back-pressure and escalation."""
    tests = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "prometheus" / "tests").glob("*.test.yml"))
    assert tests
    out = _promtool("test", "rules", *tests)
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.count("SUCCESS") == len(tests)


def test_a_wrong_expectation_fails(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The unit tests can fail: the same input with a wrong expected severity is reported."""
    bad = tmp_path / "bad.test.yml"
    bad.write_text(
        f"rule_files: ['{ROOT / 'prometheus/rules/app.rules.yml'}']\n"
        "evaluation_interval: 1m\n"
        "tests:\n"
        "  - interval: 1m\n"
        "    input_series:\n"
        "      - series: 'up{job=\"x\", instance=\"y\"}'\n"
        "        values: '0 0 0 0 0'\n"
        "    alert_rule_test:\n"
        "      - eval_time: 4m\n"
        "        alertname: TargetDown\n"
        "        exp_alerts:\n"
        "          - exp_labels: {severity: warning, job: x, instance: y}\n"
    )
    out = _promtool("test", "rules", str(bad))
    assert out.returncode != 0
    assert "FAILED" in out.stdout + out.stderr
