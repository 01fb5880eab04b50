"""PII scrubbing at the source: log lines (printed and exported) and spans leave the process scrubbed."""

from __future__ import annotations

import logging

import pytest
import structlog
from opentelemetry import trace

from otel_distro._internal.scrub import scrubbing_hooks
from otel_distro.settings import Settings
from otel_distro.testing import OtelCapture

EMAIL = "ada.lovelace@example.com"


@pytest.fixture(autouse=True)
def needs_engine() -> None:
    if scrubbing_hooks(Settings()).structlog is None:
        pytest.skip("otel_distro.scrubbing does not provide the source-side processors yet")


def test_log_lines_are_scrubbed_before_printing_and_export(otel: OtelCapture) -> None:
    structlog.get_logger("auth").info("password_reset_requested", email=EMAIL)
    logging.getLogger("legacy").warning("sent reset mail to %s", EMAIL)

    assert otel.logs, "lines were captured"
    assert not [line for line in otel.log_lines() if EMAIL in line]
    for record in otel.log_records():
        assert EMAIL not in str(record.log_record.body)
        assert EMAIL not in str(dict(record.log_record.attributes or {}))


def test_span_attributes_are_scrubbed_before_export(otel: OtelCapture) -> None:
    with trace.get_tracer("t").start_as_current_span("lookup") as span:
        span.set_attribute("enduser.email", EMAIL)

    [finished] = otel.spans("lookup")
    assert EMAIL not in str(dict(finished.attributes or {}))


def test_scrubbing_can_be_switched_off() -> None:
    assert scrubbing_hooks(Settings(scrub=False)).structlog is None
    assert scrubbing_hooks(Settings(scrub=False)).span_processors == []
