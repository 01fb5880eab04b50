"""The current span's context with one context-variable read (the API's private runtime context and span key).

``trace.get_current_span().get_span_context()`` goes through four calls of the context API; every log line asks
it, twice. For the default (contextvars) runtime context the reader below reads the context variable itself;
with any other runtime context (``OTEL_PYTHON_CONTEXT``), or with the fast path off, it is that expression.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context.contextvars_context import ContextVarsRuntimeContext
from opentelemetry.trace import INVALID_SPAN, Span, SpanContext
from opentelemetry.trace import propagation as trace_propagation

from otel_distro._internal import fastpath

__all__ = ["plain", "reader"]


def plain() -> SpanContext:
    return trace.get_current_span().get_span_context()


def reader() -> Callable[[], SpanContext]:
    """The fastest correct reader of the current span context for this process."""
    if not fastpath.active():
        return plain
    runtime: Any = getattr(otel_context, "_RUNTIME_CONTEXT", None)
    var = getattr(runtime, "_current_context", None)
    key = getattr(trace_propagation, "_SPAN_KEY", None)
    if type(runtime) is not ContextVarsRuntimeContext or not isinstance(var, ContextVar) or not isinstance(key, str):
        return plain

    def current_span_context() -> SpanContext:
        span = var.get().get(key)
        if span is None or not isinstance(span, Span):
            return INVALID_SPAN.get_span_context()
        return span.get_span_context()

    return current_span_context
