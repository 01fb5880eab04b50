"""The quick read of the current span context answers what the context API answers."""

from __future__ import annotations

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import propagation as trace_propagation

from otel_distro._internal.context import current_span_context


def test_outside_any_span_it_is_the_invalid_context() -> None:
    assert current_span_context() == trace.get_current_span().get_span_context()
    assert not current_span_context().is_valid


def test_inside_nested_spans_it_is_the_innermost_and_returns_after_each() -> None:
    tracer = TracerProvider().get_tracer("t")
    with tracer.start_as_current_span("outer") as outer:
        assert current_span_context() is outer.get_span_context()
        with tracer.start_as_current_span("inner") as inner:
            assert current_span_context() is inner.get_span_context()
        assert current_span_context() is outer.get_span_context()
    assert not current_span_context().is_valid


def test_a_value_that_is_not_a_span_reads_as_no_span() -> None:
    token = otel_context.attach(otel_context.set_value(trace_propagation._SPAN_KEY, "not a span"))
    try:
        assert current_span_context() == trace.get_current_span().get_span_context()
        assert not current_span_context().is_valid
    finally:
        otel_context.detach(token)
