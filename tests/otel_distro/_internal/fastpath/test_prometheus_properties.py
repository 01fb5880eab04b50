"""Property: the distro's /metrics text for any set of metrics the app records passes ``promtool check metrics``.

Any instrument names, units, descriptions, attribute keys and values, kinds and measurements the OpenTelemetry API
accepts come out of the Prometheus reader as exposition text that Prometheus' own checker parses (exit 0, or 3 for
its style lints only: an instrument without a description has "no help text", a unit such as ``ms`` is "not a
base unit" — the app's choices, which the distro passes on as they are).
"""

from __future__ import annotations

import shutil
import subprocess
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.metrics import MeterProvider
from prometheus_client import CollectorRegistry, generate_latest

from otel_distro._internal.fastpath.prometheus import SharedPrometheusReader
from tests.otel_distro._internal.fastpath.test_prometheus import RecordingExporter

PROMTOOL = shutil.which("promtool")
pytestmark = pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed (make system-deps installs it)")

#: promtool's style lints (client_golang's promlint): about the names, labels and units the app chose, not about
#: the text's validity.
STYLE_LINTS = (
    "no help text",
    "suffix",  # counters should end in _total, others should not
    "should be written in 'snake_case' not 'camelCase'",  # metric and label names
    "use base unit",
    "should not include type",
    "abbreviated units",
    "should not contain ':'",  # reserved for recording rules; a unit such as "m:s" brings one
)

names = st.from_regex(r"[A-Za-z][A-Za-z0-9_.\-/]{0,30}", fullmatch=True)
units = st.one_of(
    st.sampled_from(["", "s", "ms", "By", "KiBy", "1", "%", "{request}", "{packet}/s", "m/s", "Cel"]),
    st.from_regex(r"[\x21-\x7e]{1,10}", fullmatch=True),
)
descriptions = st.text(max_size=40)
attribute_values = st.one_of(
    st.text(max_size=12), st.integers(-(2**63), 2**63 - 1), st.floats(allow_nan=False), st.booleans(),
    st.lists(st.text(max_size=5), max_size=3),
)
attributes = st.dictionaries(st.text(min_size=1, max_size=12), attribute_values, max_size=3)
kinds = st.sampled_from(["counter", "up_down_counter", "histogram", "gauge"])
measurements = st.lists(st.tuples(st.floats(0, 1e9), attributes), min_size=1, max_size=4)
instruments = st.lists(
    st.tuples(names, kinds, units, descriptions, measurements),
    min_size=1,
    max_size=5,
    unique_by=lambda instrument: instrument[0].lower(),
)


def _record(provider: MeterProvider, instrument: tuple[str, str, str, str, list[tuple[float, dict[str, Any]]]]) -> None:
    name, kind, unit, description, measurements = instrument
    meter = provider.get_meter("prop")
    created: Any = getattr(meter, f"create_{kind}")(name, unit=unit, description=description)
    for value, attrs in measurements:
        if kind in ("counter", "up_down_counter"):
            created.add(value, attrs)
        elif kind == "histogram":
            created.record(value, attrs)
        else:
            created.set(value, attrs)


@settings(max_examples=30, deadline=None)
@given(instruments)
def test_any_metrics_render_as_text_promtool_accepts(chosen: list[Any]) -> None:
    registry = CollectorRegistry(auto_describe=True)
    reader = SharedPrometheusReader(RecordingExporter(), registry=registry)
    provider = MeterProvider(metric_readers=[reader])
    try:
        for instrument in chosen:
            _record(provider, instrument)
        text = generate_latest(registry)
    finally:
        provider.shutdown()
    checked = subprocess.run([str(PROMTOOL), "check", "metrics"], input=text, capture_output=True, timeout=30)
    problems = checked.stderr.decode()
    assert checked.returncode in (0, 3), (problems, text.decode())  # 1: the text does not parse
    assert "error while linting" not in problems, (problems, text.decode())
    for problem in problems.splitlines():
        assert any(lint in problem for lint in STYLE_LINTS), (problem, text.decode())
