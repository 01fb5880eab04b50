"""Request-scoped values shared by the middleware and the log processors, and a quick read of the current span.

`current_span_context` answers ``trace.get_current_span().get_span_context()``, with one context-variable read
where the fast path allows (`fastpath.span_context`). Every log line asks it, twice.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar

from opentelemetry.trace import SpanContext

from otel_distro._internal.fastpath import span_context

__all__ = ["REQUEST_ID", "current_span_context"]

#: The id of the request being served, set by `RequestContextMiddleware`; None outside a request.
REQUEST_ID: ContextVar[str | None] = ContextVar("otel_distro_request_id", default=None)

#: The `SpanContext` of the current span (invalid outside any span).
current_span_context: Callable[[], SpanContext] = span_context.reader()
