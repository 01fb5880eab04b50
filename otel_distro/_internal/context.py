"""Request-scoped values shared by the middleware and the log processors."""

from __future__ import annotations

from contextvars import ContextVar

__all__ = ["REQUEST_ID"]

#: The id of the request being served, set by `RequestContextMiddleware`; None outside a request.
REQUEST_ID: ContextVar[str | None] = ContextVar("otel_distro_request_id", default=None)
