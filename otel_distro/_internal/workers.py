"""Is this process one of several server workers? (uvicorn ``--workers N``, gunicorn ``-w N``)

A pull endpoint such as ``/metrics`` answers from whichever worker the load balancer picked, so with several
workers it would silently report one worker's share as the total. Detection is a cheap heuristic over the
parent's command line and ``WEB_CONCURRENCY``; ``OTEL_DISTRO_PROMETHEUS=on|off`` overrides it.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence

import psutil

__all__ = ["worker_count", "workers_from_command_line"]


def workers_from_command_line(argv: Sequence[str]) -> int:
    """The worker count a uvicorn/gunicorn command line asks for (1 when it does not say)."""
    for index, arg in enumerate(argv):
        for flag in ("--workers", "-w"):
            if arg == flag and index + 1 < len(argv):
                value = argv[index + 1]
            elif arg.startswith(flag + "=") and flag.startswith("--"):
                value = arg.split("=", 1)[1]
            else:
                continue
            try:
                return max(1, int(value))
            except ValueError:
                return 1
    return 1


@functools.cache
def worker_count() -> int:
    """How many workers serve this app, as far as can be told from here (1 if unknown)."""
    try:
        concurrency = int(os.environ.get("WEB_CONCURRENCY", "1"))
    except ValueError:
        concurrency = 1
    try:
        parent = psutil.Process(os.getppid())
        argv = parent.cmdline()
    except (psutil.Error, OSError):
        argv = []
    launcher = " ".join(argv[:3])
    if "uvicorn" in launcher or "gunicorn" in launcher:
        return max(concurrency, workers_from_command_line(argv))
    return max(concurrency, 1)
