"""PII scrubbing at the source, from `otel_distro.scrubbing` (built alongside; optional until it lands).

This is the one place the distro wires the scrubber in: a structlog processor placed before the renderer and
the OTel log emitter, and SDK processors registered before the export processors.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.sdk._logs import LogRecordProcessor
from opentelemetry.sdk.trace import SpanProcessor
from structlog.typing import Processor

from otel_distro._internal import fastpath
from otel_distro.settings import Settings

__all__ = ["ScrubbingHooks", "client_id_is_clean", "install_client_id_check", "scrubbing_hooks"]


@dataclass(frozen=True, slots=True)
class ScrubbingHooks:
    structlog: Processor | None = None
    span_processors: list[SpanProcessor] = field(default_factory=list)
    log_record_processors: list[LogRecordProcessor] = field(default_factory=list)
    #: Whether a text holds nothing the scrubber would redact (for ids a client sends, see `client_id_is_clean`).
    clean_text: Callable[[str], bool] | None = None
    #: The span scrubber handing scrubbed spans to the given processors itself (see `span_chain`).
    span_front: Callable[[Sequence[SpanProcessor]], SpanProcessor] | None = None

    def span_chain(self, downstream: Sequence[SpanProcessor]) -> list[SpanProcessor]:
        """What to register on a tracer provider, in order: the span scrubber, then ``downstream`` (the metric and
        export processors). On the fast path the scrubber comes first and changes each ended span in place; off it,
        the SDK's public API cannot change an ended span, so the scrubber fronts ``downstream`` and hands it a
        scrubbed copy (the same exported data; processors the app adds later see the span unscrubbed)."""
        if not self.span_processors or self.span_front is None:
            return [*self.span_processors, *downstream]
        if fastpath.active():
            return [*self.span_processors, *downstream]
        return [self.span_front(downstream)]


def scrubbing_hooks(settings: Settings) -> ScrubbingHooks:
    """The scrubbing processors for ``settings``; empty when scrubbing is off or the engine is absent."""
    if not settings.scrub:
        return ScrubbingHooks()
    try:
        scrubbing: Any = importlib.import_module("otel_distro.scrubbing")
    except ImportError:
        return ScrubbingHooks()
    names = ("default_scrubber", "StructlogScrubber", "ScrubbingSpanProcessor", "ScrubbingLogRecordProcessor")
    if not all(hasattr(scrubbing, name) for name in names):
        return ScrubbingHooks()
    engine = _engine(scrubbing, settings.scrub_key)
    return ScrubbingHooks(
        structlog=scrubbing.StructlogScrubber(engine),
        span_processors=[scrubbing.ScrubbingSpanProcessor(engine)],
        log_record_processors=[UnlessPreScrubbed(scrubbing.ScrubbingLogRecordProcessor(engine))],
        clean_text=lambda text: engine.scrub_text(text) == text,
        span_front=lambda downstream: scrubbing.ScrubbingSpanProcessor(engine, then=downstream),
    )


_client_id_check: Callable[[str], bool] | None = None


def install_client_id_check(hooks: ScrubbingHooks) -> Callable[[], None]:
    """Make `client_id_is_clean` use ``hooks``' scrubber (none: every sane id is kept, as with scrubbing off).

    Returns what puts the previous check back (the pytest plugin's ``otel`` fixture installs its own per test).
    """
    global _client_id_check  # noqa: PLW0603
    previous = _client_id_check
    _client_id_check = hooks.clean_text

    def restore() -> None:
        global _client_id_check  # noqa: PLW0603
        _client_id_check = previous

    return restore


def client_id_is_clean(text: str) -> bool:
    """Whether a request id sent by a client can be kept as it is.

    Request ids are never scrubbed (they correlate lines, spans and records, and a redacted one would not), so
    one that carries something the scrubber would redact — a card number, an e-mail address, a phone number
    in an ``X-Request-ID`` — is not taken: the request gets an id of the distro's own instead.
    """
    check = _client_id_check
    return check is None or check(text)


#: Set while the distro's own log chain emits a record its structlog scrubber already cleaned.
PRE_SCRUBBED = threading.local()


class UnlessPreScrubbed(LogRecordProcessor):
    """Runs ``inner`` on log records, except those the log chain scrubbed already (no second pass).

    Records from anything else that uses the OTel Logs API directly are still scrubbed here.
    """

    def __init__(self, inner: LogRecordProcessor) -> None:
        self._inner = inner

    def on_emit(self, log_record: Any) -> None:
        if not getattr(PRE_SCRUBBED, "active", False):
            self._inner.on_emit(log_record)

    def shutdown(self) -> None:
        self._inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return bool(self._inner.force_flush(timeout_millis))


def _engine(scrubbing: Any, key: str | None) -> Any:
    if key is None:
        return scrubbing.default_scrubber()
    try:
        return scrubbing.default_scrubber(key=key.encode())
    except (TypeError, ValueError):
        # The settings row already refuses keys the engine cannot use; an engine that takes no key, or
        # refuses this one anyway, must not stop start-up: scrub with plain redaction instead.
        return scrubbing.default_scrubber()
