"""Request-scoped values shared by the middleware and the log processors, and a quick read of the current span.

`current_span_context` answers ``trace.get_current_span().get_span_context()`` with one context-variable read
instead of four calls through the context API, for the default (contextvars) runtime context; with any other
runtime context (``OTEL_PYTHON_CONTEXT``) it is that expression itself. Every log line asks it, twice.
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

__all__ = ["REQUEST_ID", "current_span_context"]

#: The id of the request being served, set by `RequestContextMiddleware`; None outside a request.
REQUEST_ID: ContextVar[str | None] = ContextVar("otel_distro_request_id", default=None)


def _general() -> SpanContext:
    return trace.get_current_span().get_span_context()


def _reader() -> Callable[[], SpanContext]:
    runtime: Any = getattr(otel_context, "_RUNTIME_CONTEXT", None)
    var = getattr(runtime, "_current_context", None)
    key = getattr(trace_propagation, "_SPAN_KEY", None)
    if type(runtime) is not ContextVarsRuntimeContext or not isinstance(var, ContextVar) or not isinstance(key, str):
        return _general

    def current_span_context() -> SpanContext:
        span = var.get().get(key)
        if span is None or not isinstance(span, Span):
            return INVALID_SPAN.get_span_context()
        return span.get_span_context()

    return current_span_context


#: The `SpanContext` of the current span (invalid outside any span).
current_span_context: Callable[[], SpanContext] = _reader()
