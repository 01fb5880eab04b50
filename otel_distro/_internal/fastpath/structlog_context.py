"""structlog's bound context merged into each event by reading structlog's own registry of context variables.

structlog's `merge_contextvars` copies the whole `contextvars` context on every line to find its variables among
everyone's; its module keeps them in a private dict (``structlog.contextvars._CONTEXT_VARS``, keyed by
``STRUCTLOG_KEY_PREFIX`` + key), which this reads instead. Used while structlog is in `fastpath.LIBRARIES`'s range and
the registry has the expected shape; otherwise structlog's public processor, with the same result.
"""

from __future__ import annotations

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from otel_distro._internal import fastpath, guard

__all__ = ["merger"]


def merger() -> Processor:
    """A processor equal to `structlog.contextvars.merge_contextvars` (bound values never replace the event's own)."""
    public: Processor = structlog.contextvars.merge_contextvars
    if not fastpath.library_active("structlog"):
        return public
    registry = getattr(structlog.contextvars, "_CONTEXT_VARS", None)
    prefix = getattr(structlog.contextvars, "STRUCTLOG_KEY_PREFIX", None)
    if not isinstance(registry, dict) or not isinstance(prefix, str):
        return public
    cut = len(prefix)

    def merge_contextvars(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
        if registry:
            try:
                for name, var in list(registry.items()):
                    value = var.get(Ellipsis)
                    if value is not Ellipsis:
                        event_dict.setdefault(name[cut:], value)
            except Exception as exc:  # the registry holds something else: structlog's own merge (keys already set
                guard.internal_error("structlog_context", exc)  # hold the same values), said once
                return structlog.contextvars.merge_contextvars(logger, method_name, event_dict)
        return event_dict

    return merge_contextvars
