"""Logging: one processor chain for structlog and stdlib `logging`, printed as JSON and exported over OTLP.

Every line, whether it came from ``structlog.get_logger()`` or ``logging.getLogger(__name__)`` (uvicorn's own
loggers included), runs through the same chain:

    contextvars -> level -> logger -> timestamp -> trace ids + request id -> message -> exception dict
    -> [scrubber] -> OTel log record -> renderer (JSON line or console)
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import IO, Any

import orjson
import structlog
from opentelemetry._logs import Logger as OtelLogger
from opentelemetry._logs import LoggerProvider, SeverityNumber
from structlog.typing import EventDict, Processor, WrappedLogger

from otel_distro._internal import guard
from otel_distro._internal.context import REQUEST_ID, current_span_context
from otel_distro._internal.scrub import PRE_SCRUBBED

__all__ = [
    "LEVELS",
    "LogPipeline",
    "OtelLogEmitter",
    "StdlibBridgeHandler",
    "add_standard_keys",
    "add_trace_context",
    "build_pipeline",
    "emit",
    "install",
    "is_enabled",
    "mark_logged",
    "uninstall",
]

LEVELS: dict[str, int] = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}

_SEVERITY: dict[str, SeverityNumber] = {
    "debug": SeverityNumber.DEBUG,
    "info": SeverityNumber.INFO,
    "warning": SeverityNumber.WARN,
    "error": SeverityNumber.ERROR,
    "critical": SeverityNumber.FATAL,
}

#: Severity number and text by level name (the levels the chain writes).
_LEVEL_FIELDS: dict[str, tuple[SeverityNumber, str]] = {
    level: (number, level.upper()) for level, number in _SEVERITY.items()
}
#: Attribute value types passed as they are (exact types: a str subclass is converted like any other object).
_PLAIN_TYPES = frozenset({str, bool, int, float})

# Keys of the printed line that are carried by the OTel log record itself rather than as attributes.
_RECORD_KEYS = frozenset({"timestamp", "level", "message", "trace_id", "span_id", "exception", "exc_info"})

_FIRST_KEYS = ("timestamp", "level", "logger", "message", "trace_id", "span_id", "request_id")

# Attributes every stdlib LogRecord has; anything else came in through ``extra=`` and is bound context.
# (``color_message`` is uvicorn's ANSI-coloured duplicate of the message.)
_STDLIB_ATTRS = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "color_message",
}

# The SDK's and exporters' own loggers: printed, never exported (an export failure must not feed itself).
_SDK_LOGGER_PREFIX = "opentelemetry"
_SDK_REPEAT_INTERVAL_S = 60.0


_second: tuple[int, str] = (-1, "")


def _utc_timestamp(seconds: float) -> str:
    """RFC 3339 UTC with microseconds; the part up to the second is formatted once per second."""
    global _second  # noqa: PLW0603
    if seconds < 0:
        return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
    whole = int(seconds)
    cached = _second
    if cached[0] != whole:
        cached = _second = (whole, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)))
    return f"{cached[1]}.{int((seconds - whole) * 1_000_000):06d}Z"


def add_level(_: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    """``level``: the lower-case level name (``exception`` logs at ``error``, ``warn`` at ``warning``)."""
    if "level" not in event_dict:
        if method_name == "exception":
            method_name = "error"
        elif method_name == "warn":
            method_name = "warning"
        event_dict["level"] = method_name
    return event_dict


def add_timestamp(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """``timestamp``: RFC 3339 in UTC with microseconds (kept when a stdlib record already set it)."""
    if "timestamp" not in event_dict:
        event_dict["timestamp"] = _utc_timestamp(time.time())
    return event_dict


def add_logger_name(logger: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """``logger``: the name given to ``get_logger(name)`` (stdlib records bring their own)."""
    if "logger" not in event_dict:
        event_dict["logger"] = getattr(logger, "name", None) or "app"
    return event_dict


def add_trace_context(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """``trace_id`` / ``span_id`` (lower-case hex) of the current span, ``request_id`` of the current request."""
    ctx = current_span_context()
    if ctx.is_valid:
        event_dict["trace_id"] = format(ctx.trace_id, "032x")
        event_dict["span_id"] = format(ctx.span_id, "016x")
    request_id = REQUEST_ID.get()
    if request_id is not None:
        event_dict.setdefault("request_id", request_id)
    return event_dict


def add_standard_keys(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    """`add_level`, `add_logger_name`, `add_timestamp`, `add_trace_context` and `rename_event` in one step
    (one call instead of five on every line)."""
    if "level" not in event_dict:
        event_dict["level"] = (
            "error" if method_name == "exception" else "warning" if method_name == "warn" else method_name
        )
    if "logger" not in event_dict:
        event_dict["logger"] = getattr(logger, "name", None) or "app"
    if "timestamp" not in event_dict:
        event_dict["timestamp"] = _utc_timestamp(time.time())
    ctx = current_span_context()
    if ctx.is_valid:
        event_dict["trace_id"] = format(ctx.trace_id, "032x")
        event_dict["span_id"] = format(ctx.span_id, "016x")
    request_id = REQUEST_ID.get()
    if request_id is not None and "request_id" not in event_dict:
        event_dict["request_id"] = request_id
    if "event" in event_dict:
        event = event_dict.pop("event")
        if "message" not in event_dict:
            event_dict["message"] = event
    return event_dict


def _merge_contextvars() -> Processor:
    """structlog's `merge_contextvars`, reading only structlog's own context variables (not a copy of the
    whole context on every line); structlog's processor itself if its registry is not where expected."""
    registry = getattr(structlog.contextvars, "_CONTEXT_VARS", None)
    prefix = getattr(structlog.contextvars, "STRUCTLOG_KEY_PREFIX", None)
    if not isinstance(registry, dict) or not isinstance(prefix, str):
        return structlog.contextvars.merge_contextvars
    cut = len(prefix)

    def merge_contextvars(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
        if registry:
            for name, var in list(registry.items()):
                value = var.get(Ellipsis)
                if value is not Ellipsis:
                    event_dict.setdefault(name[cut:], value)
        return event_dict

    return merge_contextvars


def rename_event(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """structlog's ``event`` becomes ``message`` (stdlib records arrive with ``message`` already)."""
    if "event" in event_dict:
        event = event_dict.pop("event")
        event_dict.setdefault("message", event)
    return event_dict


#: Where `capture_exception` leaves the exception, as OTel wants it, for `OtelLogEmitter` (never printed).
_OTEL_EXCEPTION_KEY = "_otel_exception"


def _exc_info_tuple(exc_info: Any) -> tuple[type[BaseException], BaseException, Any] | None:
    if isinstance(exc_info, BaseException):
        return (type(exc_info), exc_info, exc_info.__traceback__)
    if isinstance(exc_info, tuple):
        return exc_info if len(exc_info) == 3 and exc_info[1] is not None else None
    if exc_info:
        current = sys.exc_info()
        return current if current[1] is not None else None
    return None


def capture_exception(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """For the OTel log record: the exception's type, message and Python traceback text.

    Per the OpenTelemetry conventions, ``exception.stacktrace`` is the language's own traceback text
    (`traceback.format_exception`); the printed line keeps structlog's structured ``exception`` instead. Runs
    before the exception renderer consumes ``exc_info``, and before the scrubber, which then scrubs the text.
    """
    exc_info = event_dict.get("exc_info")
    if exc_info:
        resolved = _exc_info_tuple(exc_info)
        if resolved is not None:
            exc_type, exc, tb = resolved
            event_dict[_OTEL_EXCEPTION_KEY] = {
                "type": exc_type.__name__,
                "message": str(exc),
                "stacktrace": "".join(traceback.format_exception(exc_type, exc, tb)),
            }
            if exc_info is True:  # the renderer would look at sys.exc_info() again; keep what we saw
                event_dict["exc_info"] = resolved
    return event_dict


def _attribute_value(value: Any) -> Any:
    if isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return list(value)
    try:
        return orjson.dumps(value, default=str).decode()
    except TypeError:
        return repr(value)


class _DirectRecord:
    """What a batch processor queues and an OTLP exporter encodes, in one object: a ``ReadableLogRecord``'s
    shape (``log_record``, ``resource``, ``instrumentation_scope``, ``dropped_attributes``) whose
    ``log_record`` is itself, with the fields of an SDK ``LogRecord`` the exporters read."""

    __slots__ = (
        "attributes",
        "body",
        "instrumentation_scope",
        "resource",
        "severity_number",
        "severity_text",
        "span_id",
        "timestamp",
        "trace_flags",
        "trace_id",
    )

    dropped_attributes = 0
    event_name = None

    def __init__(  # noqa: PLR0917 - one slot each, positional for speed on every log line
        self,
        timestamp: int,
        severity_number: SeverityNumber,
        severity_text: str,
        body: str,
        attributes: dict[str, Any],
        trace_id: int,
        span_id: int,
        trace_flags: int,
        resource: Any,
        scope: Any,
    ) -> None:
        self.timestamp = timestamp
        self.severity_number = severity_number
        self.severity_text = severity_text
        self.body = body
        self.attributes = attributes
        self.trace_id = trace_id
        self.span_id = span_id
        self.trace_flags = trace_flags
        self.resource = resource
        self.instrumentation_scope = scope

    @property
    def log_record(self) -> _DirectRecord:
        return self

    @property
    def observed_timestamp(self) -> int:
        return self.timestamp


# The SDK's default limit of attributes per log record; larger events take the SDK path, which enforces it.
_DIRECT_MAX_ATTRIBUTES = 128


class OtelLogEmitter:
    """A processor that emits each event as an OTel log record (body, severity, attributes, trace context).

    The event dict passes through unchanged. OTel loggers are cached per ``logger`` name, which becomes the
    instrumentation scope, as the SDK's own logging handler does.

    ``direct``: the queues of the batch processors at the end of the provider's chain (the distro's own
    set-up, where nothing else sits in between but the scrubber this chain already ran; each has ``emit``).
    Records are then queued as plain objects, skipping the SDK's per-record ``LogRecord`` / bounded-attribute
    copies; their exporters read the same fields. Without it, records go through ``Logger.emit`` and every
    processor of the provider.
    """

    def __init__(
        self, provider: LoggerProvider, *, pre_scrubbed: bool = False, direct: Sequence[Any] = ()
    ) -> None:
        self._provider = provider
        self._loggers: dict[str, OtelLogger] = {}
        self._pre_scrubbed = pre_scrubbed
        self._direct = tuple(direct)
        self._scopes: dict[str, Any] = {}

    def _emit_direct(self, name: str, level: str, body: str, attributes: dict[str, Any], now: int) -> None:
        scope = self._scopes.get(name)
        if scope is None:
            from opentelemetry.sdk.util.instrumentation import InstrumentationScope  # noqa: PLC0415

            scope = self._scopes[name] = InstrumentationScope(name)
        severity = _LEVEL_FIELDS.get(level)
        if severity is None:
            severity = (_SEVERITY.get(level, SeverityNumber.INFO), level.upper())
        ctx = current_span_context()
        valid = ctx.is_valid
        record = _DirectRecord(
            now,
            severity[0],
            severity[1],
            body,
            attributes,
            ctx.trace_id if valid else 0,
            ctx.span_id if valid else 0,
            ctx.trace_flags if valid else 0,
            self._resource(),
            scope,
        )
        for queue in self._direct:
            queue.emit(record)

    def _resource(self) -> Any:
        return getattr(self._provider, "resource", None)

    def __call__(self, _: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
        otel_exception = event_dict.pop(_OTEL_EXCEPTION_KEY, None)
        name = event_dict.get("logger", "app")
        if type(name) is not str:
            name = str(name)
        if name.startswith(_SDK_LOGGER_PREFIX):
            return event_dict
        level = event_dict.get("level", "info")
        attributes: dict[str, Any] = {}
        for key, value in event_dict.items():
            if key not in _RECORD_KEYS:
                attributes[key] = value if type(value) in _PLAIN_TYPES else _attribute_value(value)
        if isinstance(otel_exception, dict):
            attributes["exception.type"] = str(otel_exception.get("type", ""))
            attributes["exception.message"] = str(otel_exception.get("message", ""))
            attributes["exception.stacktrace"] = str(otel_exception.get("stacktrace", ""))
        now = time.time_ns()
        message = event_dict.get("message", "")
        body = message if type(message) is str else str(message)
        if self._direct and len(attributes) <= _DIRECT_MAX_ATTRIBUTES:
            self._emit_direct(name, level, body, attributes, now)
            return event_dict
        otel_logger = self._loggers.get(name)
        if otel_logger is None:
            otel_logger = self._loggers[name] = self._provider.get_logger(name)
        if self._pre_scrubbed:
            PRE_SCRUBBED.active = True
        try:
            otel_logger.emit(
                timestamp=now,
                observed_timestamp=now,
                severity_number=_SEVERITY.get(level, SeverityNumber.INFO),
                severity_text=level.upper(),
                body=body,
                attributes=attributes,
            )
        finally:
            PRE_SCRUBBED.active = False
        return event_dict


class Guarded:
    """Runs a processor that must not break the app's logging call: a failure is reported once (raised
    under pytest) and the event continues unchanged."""

    def __init__(self, processor: Processor, where: str) -> None:
        self._processor = processor
        self._where = where

    def __call__(self, logger: WrappedLogger, method_name: str, event_dict: EventDict) -> Any:
        try:
            return self._processor(logger, method_name, event_dict)
        except structlog.DropEvent:
            raise
        except Exception as exc:
            guard.internal_error(self._where, exc)
            return event_dict


def render_json(_: WrappedLogger, __: str, event_dict: EventDict) -> bytes:
    """One JSON object per line (bytes; the logger adds the newline), the fixed keys first.

    Unknown types are rendered with str().
    """
    event_dict.pop(_OTEL_EXCEPTION_KEY, None)  # only there when the OTel emitter failed
    ordered = {key: event_dict.pop(key) for key in _FIRST_KEYS if key in event_dict}
    ordered.update(event_dict)
    return orjson.dumps(ordered, default=str)


class LogPipeline:
    """The processor chain and the output stream, shared by structlog and the stdlib bridge."""

    def __init__(self, processors: Sequence[Processor], stream: IO[Any], *, binary: bool) -> None:
        self.processors = list(processors)
        self.stream = stream
        self.binary = binary
        self._lock = threading.Lock()

    def write(self, rendered: str | bytes) -> None:
        if self.binary:
            data = rendered if isinstance(rendered, bytes) else rendered.encode()
            with self._lock:
                self.stream.write(data + b"\n")
                self.stream.flush()
        else:
            text = rendered.decode() if isinstance(rendered, bytes) else rendered
            with self._lock:
                self.stream.write(text + "\n")
                self.stream.flush()

    def run(self, method_name: str, event_dict: EventDict) -> None:
        """Run the whole chain on one event and write the result (used for stdlib records)."""
        result: Any = event_dict
        try:
            for processor in self.processors:
                result = processor(None, method_name, result)
        except structlog.DropEvent:
            return
        self.write(result)


class _PipelineLogger:
    """The structlog "wrapped logger": writes the rendered line through whichever pipeline is installed.

    Looking the pipeline up per call (rather than holding it) keeps loggers cached by structlog valid when
    `install` runs again, as the pytest plugin does for every test.
    """

    def __init__(self, name: str | None = None) -> None:
        self.name = name

    def msg(self, message: str | bytes) -> None:
        pipeline = _pipeline
        if pipeline is not None:
            pipeline.write(message)

    log = debug = info = warn = warning = error = critical = exception = fatal = msg


_LOGGED_MARK = "__otel_distro_logged__"


def mark_logged(exc: BaseException) -> None:
    """The request middleware logged ``exc`` (``request_failed``, with trace and request ids): a server's own later
    record of the same exception (uvicorn's "Exception in ASGI application", outside any span) is a duplicate
    without context, and the bridge drops it — otherwise every failure would reach Sentry twice, once unlinked."""
    with contextlib.suppress(AttributeError, TypeError):  # a type without __dict__: both lines are kept
        setattr(exc, _LOGGED_MARK, True)


def _already_logged(record: logging.LogRecord) -> bool:
    exc = record.exc_info[1] if isinstance(record.exc_info, tuple) else None
    return exc is not None and getattr(exc, _LOGGED_MARK, False) is True


class StdlibBridgeHandler(logging.Handler):
    """Root handler that sends stdlib records through the same chain, with their ``extra=`` as context."""

    def __init__(self, pipeline: LogPipeline, level: int = logging.NOTSET) -> None:
        super().__init__(level)
        self.pipeline = pipeline
        self._sdk_last: dict[tuple[str, int], float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        """The SDK's own warnings repeat on every export while a collector is down: one per minute is enough."""
        if record.name.startswith(_SDK_LOGGER_PREFIX) and record.levelno < logging.CRITICAL:
            key = (record.name, record.levelno)
            now = time.monotonic()
            last = self._sdk_last.get(key)
            if last is not None and now - last < _SDK_REPEAT_INTERVAL_S:
                return False
            self._sdk_last[key] = now
        if record.exc_info and _already_logged(record):
            return False
        return bool(super().filter(record))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            event_dict: EventDict = {
                "message": record.getMessage(),
                "logger": record.name,
                "level": record.levelname.lower(),
                "timestamp": _utc_timestamp(record.created),
            }
            for key, value in record.__dict__.items():
                if key not in _STDLIB_ATTRS and not key.startswith("_"):
                    event_dict[key] = value
            if record.exc_info:
                event_dict["exc_info"] = record.exc_info
            self.pipeline.run(record.levelname.lower(), event_dict)
        except Exception:
            self.handleError(record)


def build_pipeline(
    *,
    log_format: str,
    stream: IO[Any] | None = None,
    emitter: Processor | None = None,
    scrubber: Processor | None = None,
    extra_processors: Iterable[Processor] = (),
) -> LogPipeline:
    """The chain for ``log_format`` (``json`` or ``console``), writing to ``stream`` (default stdout)."""
    processors: list[Processor] = [_merge_contextvars(), add_standard_keys]
    exception_steps: list[Processor] = [structlog.processors.StackInfoRenderer()]
    if emitter is not None:
        exception_steps.append(capture_exception)
    if log_format == "json":
        exception_steps.append(
            structlog.processors.ExceptionRenderer(structlog.tracebacks.ExceptionDictTransformer(show_locals=False))
        )
    else:
        exception_steps.append(_keep_exc_info_for_console)
    processors.append(_when_exception(exception_steps))
    # PII scrubbing hook: the scrubber runs here, after every key is in place and before anything leaves.
    if scrubber is not None:
        processors.append(Guarded(scrubber, "log_scrubbing"))
    processors.extend(extra_processors)
    if emitter is not None:
        processors.append(Guarded(emitter, "log_export"))
    if log_format == "json":
        processors.append(render_json)
        out = stream if stream is not None else sys.stdout.buffer
        return LogPipeline(processors, out, binary=_is_binary(out))
    processors.append(structlog.dev.ConsoleRenderer(event_key="message", timestamp_key="timestamp"))
    out = stream if stream is not None else sys.stdout
    return LogPipeline(processors, out, binary=_is_binary(out))


def _when_exception(steps: Sequence[Processor]) -> Processor:
    """``steps`` (stack and exception rendering) run only on events that carry ``exc_info`` or ``stack_info``:
    most lines carry neither, and each step would only look and pass the event on."""
    chain = tuple(steps)

    def exception_processors(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> Any:
        result: Any = event_dict
        if "exc_info" in event_dict or "stack_info" in event_dict:
            for step in chain:
                result = step(logger, method_name, result)
        return result

    return exception_processors


def _keep_exc_info_for_console(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    if event_dict.get("exc_info") is True:
        event_dict["exc_info"] = sys.exc_info()
    return event_dict


def _is_binary(stream: IO[Any]) -> bool:
    return "b" in getattr(stream, "mode", "") or not hasattr(stream, "encoding")


# structlog is configured once with this list object; `install` swaps its contents, so loggers that
# structlog cached on first use run the new chain too.
_processors: list[Processor] = []
_pipeline: LogPipeline | None = None
_installed: StdlibBridgeHandler | None = None
_level = logging.NOTSET


def emit(method_name: str, event_dict: EventDict) -> bool:
    """Run one event through the installed chain directly, as a structlog logger's ``method_name`` call would
    (filtered by the installed level), without a bound logger; the request middleware's per-request line.

    ``event_dict`` carries ``event`` and ``logger``. False when no chain is installed (log through structlog).
    """
    pipeline = _pipeline
    if pipeline is None:
        return False
    if LEVELS.get(method_name, logging.INFO) >= _level:
        pipeline.run(method_name, event_dict)
    return True


def is_enabled(method_name: str) -> bool:
    """Whether a line at ``method_name`` would be written by the installed chain (True when none is installed:
    then whatever structlog is configured with decides)."""
    return _pipeline is None or LEVELS.get(method_name, logging.INFO) >= _level


def install(pipeline: LogPipeline, *, level: str, access_log: bool = True) -> None:
    """Route structlog and the stdlib root logger through ``pipeline`` (replaces a previous install)."""
    global _installed, _pipeline, _level  # noqa: PLW0603
    numeric = LEVELS[level]
    _level = numeric
    _processors[:] = pipeline.processors
    pipeline.processors = _processors
    _pipeline = pipeline
    structlog.configure(
        processors=_processors,
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=_logger_factory,
        context_class=dict,
        cache_logger_on_first_use=True,
    )
    root = logging.getLogger()
    if _installed is not None:
        root.removeHandler(_installed)
    _installed = StdlibBridgeHandler(pipeline)
    root.addHandler(_installed)
    root.setLevel(numeric)
    _adopt_server_loggers(access_log=access_log)
    _patch_uvicorn_logging(access_log=access_log)


def _logger_factory(*args: Any) -> _PipelineLogger:
    return _PipelineLogger(str(args[0]) if args and args[0] else None)


def uninstall() -> None:
    """Undo `install`: the root handler goes, structlog returns to its defaults."""
    global _installed, _pipeline  # noqa: PLW0603
    if _installed is not None:
        logging.getLogger().removeHandler(_installed)
        _installed = None
    _pipeline = None
    structlog.reset_defaults()


def _adopt_server_loggers(*, access_log: bool) -> None:
    """uvicorn configures its own handlers; route its loggers to the root handler instead.

    Each logger gets a new, empty handler list rather than having its list emptied: gunicorn's ``UvicornWorker``
    hands ``uvicorn.error`` the very list of gunicorn's own error log, whose lines ("Booting worker", worker
    timeouts, "Shutting down") must keep their handler.
    """
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi"):
        server_logger = logging.getLogger(name)
        if server_logger.handlers:
            server_logger.handlers = []
        server_logger.propagate = True
    logging.getLogger("uvicorn.access").setLevel(logging.INFO if access_log else logging.WARNING)


def _patch_uvicorn_logging(*, access_log: bool) -> None:
    """uvicorn's Config applies its own dictConfig when the server starts, after we ran: re-adopt after it."""
    try:
        from uvicorn.config import Config  # noqa: PLC0415
    except ImportError:
        return
    original: Callable[[Config], None] = getattr(
        Config.configure_logging, "__otel_distro_original__", Config.configure_logging
    )

    def configure_logging(self: Config) -> None:
        original(self)
        _adopt_server_loggers(access_log=access_log)

    configure_logging.__otel_distro_original__ = original  # type: ignore[attr-defined]
    Config.configure_logging = configure_logging  # type: ignore[method-assign]
