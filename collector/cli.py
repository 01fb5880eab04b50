"""``otel-distro collector validate|run --config FILE``.

``validate`` prints nothing and exits 0 for a valid file, else one line per problem (each naming its key path)
on stderr and exits 1. ``run`` runs the collector until SIGTERM / SIGINT, logging JSON lines on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import structlog

from collector import stdlib_logs
from collector.config import ConfigError, load
from collector.service import Service
from collector.workers import WorkerInfo, default_workers, run_supervisor

__all__ = ["configure_logging", "main"]

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warn": logging.WARNING, "warning": logging.WARNING,
           "error": logging.ERROR}


def configure_logging(level: str = "info", encoding: str = "json") -> None:
    """The collector's own logs on stderr: one JSON object per line (``encoding: console``: for humans)."""
    renderer: Any = structlog.processors.JSONRenderer() if encoding == "json" else structlog.dev.ConsoleRenderer()
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            *([structlog.processors.EventRenamer("message")] if encoding == "json" else []),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS.get(level, logging.INFO)),
        logger_factory=structlog.WriteLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
    stdlib_logs.install(_LEVELS.get(level, logging.INFO))  # aiohttp, grpc, asyncio: JSON lines too


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop when installed (faster I/O), else asyncio's own loop."""
    try:
        import uvloop  # noqa: PLC0415 - optional
    except ImportError:
        return None
    return uvloop.new_event_loop


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"--workers must be a whole number >= 1, got {text!r}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="otel-distro collector", description="the OTLP pipeline service")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, help_ in (("validate", "check a configuration file and exit"), ("run", "run the collector")):
        p = sub.add_parser(name, help=help_)
        p.add_argument("--config", required=True, help="path to otel-collector.yaml")
        if name == "run":
            p.add_argument("--workers", type=_positive, default=None,
                           help="collector processes sharing the receiver ports (default: the cores available, "
                                "1 when a component cannot run in several processes)")
            p.add_argument("--worker-index", type=int, default=None, help=argparse.SUPPRESS)
            p.add_argument("--worker-run-dir", default=None, help=argparse.SUPPRESS)
    return parser


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    try:
        config = load(args.config)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 1
    if args.command == "validate":
        return 0
    configure_logging(config.telemetry.log_level, config.telemetry.log_encoding)
    log = structlog.get_logger("collector")
    worker = None
    if args.worker_index is not None and args.worker_run_dir is not None:
        worker = WorkerInfo(args.worker_index, Path(args.worker_run_dir))
        structlog.contextvars.bind_contextvars(worker=args.worker_index)
    else:
        workers, why = default_workers(config)
        if args.workers is not None and args.workers > 1 and why is not None:
            print(f"--workers {args.workers}: {why} (run with --workers 1)", file=sys.stderr)
            return 1
        if args.workers is None and why is not None and len(os.sched_getaffinity(0)) > 1:
            log.info("collector_single_worker", reason=why)
        n = args.workers or workers
        if n > 1:
            return run_supervisor(config, args.config, n)
    try:
        with asyncio.Runner(loop_factory=_loop_factory()) as runner:
            runner.run(Service(config, worker=worker).run())
    except Exception as exc:  # e.g. a port already in use: one readable line, not a traceback
        log.error("collector_failed", error=str(exc) or type(exc).__name__)
        return 1
    return 0
