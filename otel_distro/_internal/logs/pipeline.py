"""Install: the chain and its output stream, routed from structlog and the stdlib root logger (uvicorn's too)."""

from __future__ import annotations

import functools
import logging
import sys
import threading
from collections.abc import Iterable, Sequence
from typing import IO, Any

import structlog
from structlog.typing import EventDict, Processor

from otel_distro._internal.fastpath import uvicorn_server
from otel_distro._internal.logs.processors import (
    LEVELS,
    Guarded,
    add_standard_keys,
    capture_exception,
    contextvars_merger,
    keep_exc_info_for_console,
    render_json,
    when_exception,
)
from otel_distro._internal.logs.stdlib_bridge import StdlibBridgeHandler

__all__ = ["LogPipeline", "build_pipeline", "emit", "install", "is_enabled", "uninstall"]

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



def build_pipeline(
    *,
    log_format: str,
    stream: IO[Any] | None = None,
    emitter: Processor | None = None,
    scrubber: Processor | None = None,
    extra_processors: Iterable[Processor] = (),
) -> LogPipeline:
    """The chain for ``log_format`` (``json`` or ``console``), writing to ``stream`` (default stdout)."""
    processors: list[Processor] = [contextvars_merger(), add_standard_keys]
    exception_steps: list[Processor] = [structlog.processors.StackInfoRenderer()]
    if emitter is not None:
        exception_steps.append(capture_exception)
    if log_format == "json":
        exception_steps.append(
            structlog.processors.ExceptionRenderer(structlog.tracebacks.ExceptionDictTransformer(show_locals=False))
        )
    else:
        exception_steps.append(keep_exc_info_for_console)
    processors.append(when_exception(exception_steps))
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
    """uvicorn's Config applies its own dictConfig when the server starts, after we ran: re-adopt after it
    (`fastpath.uvicorn_server`; off its known releases, when the app starts)."""
    uvicorn_server.after_configure_logging(functools.partial(_adopt_server_loggers, access_log=access_log))
